/** Behaviour signals for the rule engine: time, active time, scroll, clicks and exit intent per device type. */
import { safe } from './safe.js'

const OPTS = { capture: true, passive: true }
const on = (target, type, fn) => target.addEventListener(type, safe(fn), OPTS)

const depth = () => {
  const h = document.documentElement.scrollHeight
  return h <= innerHeight ? 100 : Math.min(100, Math.round(((scrollY + innerHeight) / h) * 100))
}

/** Start observing; `changed(isExit)` runs every second and at once when an exit signal fires. */
export function startSignals(config, session, changed) {
  const touch = matchMedia('(pointer: coarse)').matches
  const L = session.landing
  const s = {
    exit: false, active_s: 0, time_s: 0, scroll_pct: depth(), clicks: 0, clicks_60s: 0, pages: session.pages,
    source: L.source, keyword: L.keyword, utm_source: L.utm.utm_source || null,
    utm_medium: L.utm.utm_medium || null, utm_campaign: L.utm.utm_campaign || null,
    device: touch ? 'touch' : 'desktop',
  }
  const x = (config.exit || {})[s.device] || {}
  let lastInput = Date.now(), lastScroll = 0, hiddenAt = 0, visible = 0, grace, ups = []
  // Exit signals count only after this much *visible* time, so background tabs do not arm them.
  const armed = () => visible >= (x.armed_after_s ?? (touch ? 15 : 5))
  const fire = () => {
    if (!s.exit) {
      s.exit = true
      changed(true)
    }
  }
  const input = () => (lastInput = Date.now())
  for (const type of ['mousemove', 'keydown', 'pointerdown', 'wheel', 'touchstart']) on(document, type, input)
  on(document, 'click', (e) => {
    if (e.target.localName == 'callback-widget') return
    s.clicks++
    if (s.active_s < 60) s.clicks_60s++
  })
  on(window, 'scroll', () => {
    const now = input()
    const y = scrollY
    lastScroll = now
    s.scroll_pct = Math.max(s.scroll_pct, depth())
    // Positions over the last 400 ms, after the position where that window began (the first entry).
    ups.push([now, y])
    while (ups.length > 2 && now - ups[1][0] > 400) ups.shift()
    if (!touch || x.is_scroll_up === false || !armed() || s.scroll_pct < (x.min_scroll_pct ?? 40)) return
    // A fast flick up (>= scroll_up_vh of the viewport within 400 ms) that ends in the page's top fifth.
    const peak = Math.max(...ups.map((p) => p[1]))
    if (peak - y >= (innerHeight * (x.scroll_up_vh ?? 25)) / 100 && y <= document.documentElement.scrollHeight / 5) fire()
  })
  if (touch) {
    on(document, 'visibilitychange', () => {
      if (document.hidden) hiddenAt = Date.now()
      else if (x.is_tab_return !== false && hiddenAt && armed() && Date.now() - hiddenAt >= (x.hidden_s ?? 5) * 1e3) fire()
    })
  } else {
    // The pointer leaves through the top edge: not from a <select> list, not right after a scroll, and not
    // coming straight back (Chrome fires leave/enter bursts when the pointer enters from the toolbar).
    on(document, 'mouseout', (e) => {
      const tag = (e.composedPath()[0] || {}).tagName
      if (e.relatedTarget || e.clientY > (x.top_px ?? 20) || !armed() || tag == 'SELECT' || tag == 'OPTION' ||
          Date.now() - lastScroll < 500) return
      clearTimeout(grace)
      grace = setTimeout(fire, 150)
    })
    on(document, 'mouseover', () => clearTimeout(grace))
  }
  setInterval(safe(() => {
    const now = Date.now()
    s.time_s = Math.round(performance.now() / 1e3) // since the page started loading
    if (!document.hidden) {
      visible++
      if (now - lastInput < 30e3) s.active_s++
      if (touch && x.idle_s > 0 && armed() && now - lastInput >= x.idle_s * 1e3) fire()
    }
    changed(false)
  }), 1e3)
  return s
}
