/** The popup: a native <dialog> in an open shadow root. Config text enters only as text nodes and attributes. */
import { capacity, national, reformat } from './phone.js'
import { safe } from './safe.js'
import { CSS } from './styles.js'

const POSITIONS = ['bottom-right', 'bottom-left', 'center']
const COLOR = /^#[0-9a-f]{6}$/i
let sheet

/** An element with attributes (true = present, null/false = absent) and children (strings become text nodes). */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag)
  for (const k in attrs) if (attrs[k] != null && attrs[k] !== false) el.setAttribute(k, attrs[k] === true ? '' : attrs[k])
  el.append(...kids.filter(Boolean))
  return el
}

const httpUrl = (u) => (/^https?:\/\//i.test(u) ? u : null)
export const fill = (text, key, value) => String(text || '').replace('{' + key + '}', value)

/** A slot or booked time as the site's clock shows it, e.g. "Sat, 28 November, 09:00". */
export function when(iso, config) {
  try {
    return new Intl.DateTimeFormat(config.lang, {
      timeZone: config.schedule.timezone, weekday: 'short', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit',
    }).format(new Date(iso))
  } catch (e) {
    return iso
  }
}

/** Black or white, whichever reads better on the accent colour. */
const ink = (hex) => {
  const n = parseInt(hex.slice(1), 16)
  return (n >> 16) * 0.3 + ((n >> 8) & 255) * 0.59 + (n & 255) * 0.11 > 165 ? '#000' : '#fff'
}

/** The host element in `parent` (created once); `all: initial` keeps the page's inherited CSS out of the popup. */
export function mount(parent) {
  let host = parent.querySelector(':scope>callback-widget')
  if (!host) {
    host = parent.appendChild(document.createElement('callback-widget'))
    host.style.cssText = 'all:initial;display:contents' // no box of its own in the page's layout
    host.attachShadow({ mode: 'open', delegatesFocus: true })
  }
  return host
}

function adopt(root) {
  try {
    if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(CSS)
    root.adoptedStyleSheets = [sheet]
    if (root.adoptedStyleSheets.length) return null
  } catch (e) {}
  return h('style', {}, CSS) // browsers without constructable stylesheets (Safari < 16.4)
}

function countriesOf(config) {
  const c = config.countries || {}
  const list = (c.allowed || []).map((x) => ({ ...x, template: x.template || '##########' }))
  return [list, list.find((x) => x.code == c.default) || list[0] || { code: c.default, dial: '', template: '##########' }]
}

/**
 * Render the popup into `host`'s shadow root. Options: config, texts, design, preview (no submission, no
 * focus taking), touch (Back closes it), submit(fields) → Promise, onClose. Returns {dlg, open, close, status}.
 */
export function render(host, o) {
  const c = o.config
  const S = c.strings || {}
  const E = S.errors || {}
  const T = o.texts
  const D = o.design
  let [countries, country] = countriesOf(c)
  const blank = () => country.template.replace(/#/g, '_')
  const tel = h('input', { id: 'cb-p', type: 'tel', autocomplete: 'tel', inputmode: 'tel', required: true,
    placeholder: blank(), autofocus: !o.touch && !o.preview })
  tel.oninput = safe(() => reformat(tel, country))
  let prefix = h('span', { 'aria-hidden': 'true' }, '+' + country.dial)
  if (countries.length > 1) {
    prefix = h('select', { 'aria-label': S.country }, ...countries.map((x) => h('option', { value: x.code }, `+${x.dial} ${x.name}`)))
    prefix.value = country.code
    prefix.onchange = safe(() => {
      country = countries.find((x) => x.code == prefix.value)
      tel.placeholder = blank()
      reformat(tel, country)
    })
  }
  const offices = c.offices || []
  const office = offices.length ? h('select', { id: 'cb-o' }, h('option', { value: '' }, S.any_office),
    ...offices.map((x) => h('option', { value: x.id }, x.name))) : null
  const slots = (c.mode == 'scheduled' && (c.schedule || {}).slots) || []
  const slot = slots.length ? h('select', { id: 'cb-s' }, ...slots.map((s) => h('option', { value: s }, when(s, c)))) : null
  const consent = h('input', { type: 'checkbox', required: true })
  const cs = c.consent || {}
  const op = c.operator || {}
  const [opBefore, opAfter] = fill(S.operator, 'name', '\0').split('\0')
  // A field people never see (off-screen, out of the tab order): a bot filling every input fills it.
  const hp = h('input', { name: 'website', class: 'hp', tabindex: -1, autocomplete: 'off', 'aria-hidden': 'true' })
  const shownAt = Date.now()
  const err = h('p', { class: 'er', role: 'alert' })
  const btn = h('button', { class: 'go' }, T.button)
  const form = h('form', { novalidate: true },
    h('label', { for: 'cb-p' }, S.phone), h('div', { class: 'r' }, prefix, tel),
    office && h('label', { for: 'cb-o' }, S.office), office,
    slot && h('label', { for: 'cb-s' }, S.pick_time), slot,
    h('label', { class: 'ck' }, consent, h('span', {}, S.consent)),
    h('div', { class: 'ct', role: 'region', tabindex: 0, 'aria-label': S.consent }, cs.text),
    httpUrl(cs.policy_url) && h('p', { class: 'sm' }, h('a', { href: cs.policy_url, target: '_blank', rel: 'noopener' }, S.policy)),
    hp, err, btn,
    h('p', { class: 'sm' }, opBefore, h('a', { href: httpUrl(op.url), target: '_blank', rel: 'noopener' }, op.name), opAfter))
  const big = h('p', { class: 'big' })
  const small = h('p', {})
  const live = h('div', { 'aria-live': 'polite', tabindex: -1, hidden: true }, big, small)
  const close = h('button', { type: 'button', class: 'x', 'aria-label': S.close }, '×')
  const position = POSITIONS.includes(D.position) ? D.position : 'bottom-right'
  const dlg = h('dialog', { 'aria-labelledby': 'cb-t', lang: c.lang, class: `p-${position}${o.preview ? ' pv' : ''}` },
    h('div', { class: 'in' }, close, h('h2', { id: 'cb-t' }, T.title), T.body && h('p', {}, T.body), form, live))
  const colors = { '--a': D.accent_color, '--t': D.text_color, '--b': D.background_color }
  for (const k in colors) if (COLOR.test(colors[k])) dlg.style.setProperty(k, colors[k])
  if (COLOR.test(D.accent_color)) dlg.style.setProperty('--i', ink(D.accent_color))
  host.shadowRoot.replaceChildren(...[adopt(host.shadowRoot), dlg].filter(Boolean))

  const fail = (text, field) => {
    err.textContent = text || E.network || ''
    if (field) field.focus()
  }
  const send = safe(async () => {
    const d = national(tel.value, country)
    tel.setAttribute('aria-invalid', d.length < capacity(country.template))
    if (d.length < capacity(country.template)) return fail(S.phone_incomplete, tel)
    if (!consent.checked) return fail(E.consent_required, consent)
    btn.disabled = true
    btn.textContent = S.sending
    err.textContent = ''
    try {
      await o.submit({ phone: '+' + country.dial + d, country: country.code,
        department_id: office && office.value ? +office.value : null, scheduled_for: slot ? slot.value : null,
        website: hp.value, form_ms: Date.now() - shownAt })
    } catch (x) {
      fail(E[x.code] || x.message)
    }
    btn.disabled = false
    btn.textContent = T.button
  })
  form.onsubmit = (e) => {
    e.preventDefault()
    if (!o.preview && !btn.disabled) send()
  }
  if (!o.preview) {
    close.onclick = () => dlg.close()
    // A click that starts and ends outside the box (on the backdrop) closes, like Esc.
    let outside
    const isOut = (e) => {
      const r = dlg.getBoundingClientRect()
      return e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom
    }
    dlg.onpointerdown = safe((e) => {
      outside = isOut(e)
    })
    dlg.onclick = safe((e) => {
      if (outside && isOut(e)) dlg.close() // (an `on` handler returning false would cancel the click)
    })
    dlg.addEventListener('close', o.onClose)
  }
  if (o.touch && !o.preview) backCloses(dlg)
  let isStatusShown
  return {
    dlg,
    open: () => (o.preview || !dlg.showModal ? dlg.setAttribute('open', '') : dlg.showModal()),
    close: () => dlg.close(),
    /** Replace the form with the request's live status (a countdown line and a status line). */
    status(a, b) {
      form.hidden = true
      live.hidden = false
      big.textContent = a || ''
      small.textContent = b || ''
      if (!isStatusShown) live.focus()
      isStatusShown = true
    },
  }
}

/**
 * Touch devices: once the visitor has tapped inside the popup (a user activation, never on load), one history
 * entry is added so that Back closes the popup instead of leaving; closing otherwise removes that entry.
 */
function backCloses(dlg) {
  let isPushed
  const pop = safe(() => {
    if (isPushed) {
      isPushed = false
      dlg.close()
    }
  })
  dlg.addEventListener('click', safe(() => {
    if (!isPushed && dlg.open) {
      isPushed = true
      history.pushState(history.state, '')
    }
  }))
  addEventListener('popstate', pop)
  dlg.addEventListener('close', safe(() => {
    removeEventListener('popstate', pop)
    if (isPushed) {
      isPushed = false
      history.back()
    }
  }))
}
