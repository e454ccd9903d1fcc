/** The widget's only storage: one sessionStorage entry with the session id, pages seen, shown flag and landing. */
const KEY = 'callback-widget'
const IDLE_MS = 30 * 60e3 // a session ends after 30 min without a page view, as in GA4 and Metrica

/** A random RFC 4122 version-4 id (crypto.randomUUID needs a secure context; getRandomValues does not). */
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 15) | 64
  b[8] = (b[8] & 63) | 128
  const hex = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('')
  return hex.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')
}

export function save(session) {
  session.at = Date.now()
  try {
    sessionStorage.setItem(KEY, JSON.stringify(session))
  } catch (e) {} // storage disabled or full: the session lives for this page only
}

/** This tab's session, counting the current page; `landing()` describes a new session's first page. */
export function loadSession(landing) {
  let s
  try {
    s = JSON.parse(sessionStorage.getItem(KEY))
  } catch (e) {}
  if (!s || !s.sid || !s.landing || Date.now() - s.at > IDLE_MS) {
    s = { sid: uuid(), pages: 0, shown: false, landing: landing() }
  }
  s.pages++
  save(s)
  return s
}
