/** Where the session came from (W6): source class, UTM tags, paid keyword and ad click id of the landing page. */
const CLICK_IDS = ('yclid ymclid gclid gclsrc dclid gbraid wbraid fbclid msclkid twclid ttclid li_fat_id rdt_cid ' +
  'epik qclid sccid irclid _openstat').split(' ')
const PAID = /^(cpc|ppc|paidsearch|cpv|cpa|cpp|display|cpm|banner)$/
const UTM = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']
// Referrer hosts, first match wins (zen.yandex.ru is social before yandex.* is search).
const HOSTS = [
  ['messenger', /(^|\.)(t\.me|telegram\.[\w.]+|whatsapp\.(com|net)|wa\.me|viber\.com)$/],
  ['social', new RegExp('(^|\\.)(vk\\.(com|ru)|ok\\.ru|my\\.mail\\.ru|(facebook|fb|instagram|youtube|tiktok|reddit|' +
    'linkedin|twitter|x)\\.com|youtu\\.be|t\\.co|(dzen|pikabu)\\.ru|zen\\.yandex\\.ru|pinterest\\.[\\w.]+)$')],
  ['search', /(^|\.)(yandex\.[\w.]+|ya\.ru|google\.[\w.]+|bing\.com|go\.mail\.ru|rambler\.ru|duckduckgo\.com|yahoo\.com|ecosia\.org)$/],
]

const bare = (host) => host.toLowerCase().replace(/^www\./, '')
// The API's limits (app/api/schemas.py): longer values would make the whole request invalid.
const clip = (v, n = 200) => v && v.slice(0, n)

/** The landing page's attribution; the first page of a session decides for the whole session. */
export function detectLanding(href = location.href, referrer = document.referrer) {
  const page = new URL(href)
  const q = page.searchParams
  const utm = {}
  for (const k of UTM) if (q.get(k)) utm[k] = clip(q.get(k))
  const clickId = CLICK_IDS.find((k) => q.get(k))
  const medium = (utm.utm_medium || '').toLowerCase()
  let kind = 'direct'
  let rq
  try {
    const ref = new URL(referrer)
    const host = bare(ref.hostname)
    rq = ref.searchParams
    kind = host == bare(page.hostname) ? 'internal' : (HOSTS.find(([, re]) => re.test(host)) || ['referral'])[0]
  } catch (e) {} // no (or no valid) referrer: direct
  const source = clickId || PAID.test(medium) ? 'ad' : medium == 'messenger' ? 'messenger' : kind
  // Search engines stopped sending the query long ago; read it if one still does.
  const keyword = utm.utm_term || (kind == 'search' && (rq.get('text') || rq.get('q') || rq.get('query'))) || ''
  return {
    url: clip(href, 2000), referrer: clip(referrer, 2000), source, utm,
    keyword: clip(keyword.toLowerCase()) || null,
    click_id: clickId ? clip(clickId + ':' + q.get(clickId)) : null,
  }
}
