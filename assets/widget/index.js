/**
 * CallBack widget (W1–W16), installed with
 *   <script async src="https://…/widget.js" data-site="KEY"></script>
 * It finds its own <script>, loads the site's configuration, watches behaviour signals and opens the popup
 * when a scenario matches (at most once per session). See docs/widget.md.
 */
import { emit } from './analytics.js'
import { flush, queueEvent, request } from './api.js'
import { pickScenario, variant } from './engine.js'
import { loadSession, save } from './session.js'
import { startSignals } from './signals.js'
import { detectLanding } from './source.js'
import { follow } from './status.js'
import { safe } from './safe.js'
import { mount, render } from './ui.js'

let api, key, config, session, sig, view, pendingOpen
let current = {} // {scenario, variant} of the popup last shown

function track(name, id) {
  emit(name, id ? { site: key, ...current, id } : { site: key, ...current }, (config.analytics || {}).metrika_counter_id)
  if (name != 'connected') queueEvent(name, current.scenario, current.variant)
}

const sendEvents = () => flush(`${api}/widget/${key}/events`, session.sid, sig.device)

function show(scenario) {
  if (view && view.dlg.open) return
  const v = variant(config, sig.keyword, session.landing.utm, scenario)
  current = { scenario: scenario.id, variant: v.id }
  session.shown = true
  save(session)
  view = render(mount(document.body || document.documentElement), {
    config, texts: v.texts, design: v.design, touch: sig.device == 'touch', submit,
    onClose: safe(() => {
      track('closed')
      sendEvents()
    }),
  })
  view.open()
  track('shown')
}

async function submit(fields) {
  const L = session.landing
  const shown = view
  const r = await request(`${api}/widget/${key}/callbacks`, {
    ...fields, consent: true, consent_version: (config.consent || {}).version,
    visitor: {
      session_id: session.sid, page_url: location.href.slice(0, 2000), landing_url: L.url, referrer: L.referrer, utm: L.utm,
      keyword: L.keyword, source: L.source, click_id: L.click_id, ...current, device: sig.device,
      pages: session.pages, active_s: sig.active_s,
    },
  })
  track('submitted', r.id)
  sendEvents()
  r.scheduled_for = r.scheduled_for || fields.scheduled_for
  safe(follow)(r, {
    config, view: shown,
    poll: () => request(`${api}/callbacks/${r.id}?token=${encodeURIComponent(r.status_token)}`),
    connected: () => track('connected', r.id),
  })
}

/** Runs every second and at once on an exit signal. */
function changed(isExit) {
  if (session.shown || document.hidden) return
  // Do not interrupt someone typing into the site's own form; an exit signal still opens at once.
  const a = document.activeElement
  if (!isExit && a && (/^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) || a.isContentEditable)) return
  const scenario = pickScenario(config, sig)
  if (scenario) show(scenario)
}

function start(c) {
  config = c
  session = loadSession(detectLanding)
  sig = startSignals(config, session, safe(changed))
  const leave = safe(() => {
    save(session)
    sendEvents()
  })
  addEventListener('pagehide', leave)
  document.addEventListener('visibilitychange', () => document.hidden && leave())
  if (pendingOpen) open(...pendingOpen)
}

function open(scenarioId) {
  if (!config) return (pendingOpen = [scenarioId]) // opened before the configuration arrived
  show((config.scenarios || []).find((s) => s.id === scenarioId) || { id: String(scenarioId || 'manual').slice(0, 32) })
}

/** The settings page's live preview: non-modal, inside `container`, submission disabled, no events. */
function preview(c, container, scenarioId) {
  const v = variant(c, null, {}, (c.scenarios || []).find((s) => s.id === scenarioId))
  render(mount(container), { config: c, texts: v.texts, design: v.design, preview: true }).open()
}

function main() {
  if (window.CallBack && window.CallBack.open) return // included twice
  window.CallBack = {
    open: safe(open),
    close: safe(() => view && view.close()),
    preview: safe(preview),
    state: safe(() => ({ scenario: null, variant: null, ...current, signals: sig ? { ...sig } : null })),
  }
  const script = document.currentScript || document.querySelector('script[data-site][src*="widget.js"]')
  key = script && script.getAttribute('data-site')
  if (!key || script.hasAttribute('data-preview')) return
  api = new URL(script.src).origin + '/api/v1'
  request(`${api}/widget/${encodeURIComponent(key)}`).then(safe(start), () => {})
}

safe(main)()
