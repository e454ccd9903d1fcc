/** After a request is accepted: a countdown and live status (instant), the booked time, or the passive note. */
import { safe } from './safe.js'
import { fill, when } from './ui.js'

const FINAL = ['completed', 'rejected', 'passive', 'expired']
const WAITING = ['received', 'queued', 'dialing']
const POLL_MS = 2e3
const POLL_FOR_MS = 180e3

/** `r` is the 201 answer; `poll()` fetches the status; `connected()` runs once when the call connects. */
export function follow(r, { config, view, poll, connected }) {
  const S = config.strings || {}
  const ST = S.status || {}
  if (r.mode == 'scheduled') {
    return view.status(r.scheduled_for ? fill(S.scheduled, 'time', when(r.scheduled_for, config)) : ST.scheduled)
  }
  if (r.mode == 'passive') return view.status(ST.passive)
  const start = Date.now()
  const eta = r.eta_seconds ?? config.eta_seconds ?? 0
  let status = 'received'
  let text = ST.received
  let isConnected
  const draw = safe(() => {
    const left = Math.ceil(eta - (Date.now() - start) / 1e3)
    view.status(WAITING.includes(status) && left > 0 ? fill(S.countdown, 's', left) : '', text)
  })
  const timer = setInterval(draw, 1e3)
  const check = safe(async () => {
    try {
      const s = await poll()
      status = s.status
      text = [ST[status], status == 'completed' && (S.outcome || {})[s.outcome]].filter(Boolean).join(' ') || text
      if (!isConnected && (status == 'connected' || s.outcome == 'success')) {
        isConnected = true
        connected()
      }
    } catch (e) {} // a failed poll is retried
    if (FINAL.includes(status) || Date.now() - start > POLL_FOR_MS) clearInterval(timer)
    else setTimeout(check, POLL_MS)
    draw()
  })
  draw()
  setTimeout(check, POLL_MS)
}
