/** The CallBack API over fetch (never with cookies) and the events beacon. */

/** JSON of a successful response; otherwise throws the API's `{code, message}` (`network` if unreachable). */
export async function request(url, body) {
  const init = { credentials: 'omit' }
  if (body) Object.assign(init, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  let res
  let data
  try {
    res = await fetch(url, init)
    data = await res.json()
  } catch (e) {}
  if (res && res.ok && data) return data
  throw (data && data.error) || { code: 'network' }
}

const queue = []

export function queueEvent(type, scenario, variant) {
  queue.push({ type, scenario, variant })
}

/** Send queued events as text/plain beacons (no CORS preflight; survive the page being left), ≤ 20 each. */
export function flush(url, session_id, device) {
  try {
    while (queue.length) navigator.sendBeacon(url, JSON.stringify({ session_id, device, events: queue.splice(0, 20) }))
  } catch (e) {}
}
