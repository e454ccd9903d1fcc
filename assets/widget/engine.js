/** The rule engine: conditions `[signal, op, value]` in OR-of-AND groups, the scenario, and the W7 variant. */
const own = (o, k) => o != null && Object.prototype.hasOwnProperty.call(o, k)
const low = (v) => (typeof v == 'string' ? v.toLowerCase() : v)
const nums = (a, b) => typeof a == 'number' && typeof b == 'number'
const OPS = {
  eq: (a, b) => low(a) === low(b),
  ne: (a, b) => low(a) !== low(b),
  gte: (a, b) => nums(a, b) && a >= b,
  lte: (a, b) => nums(a, b) && a <= b,
  in: (a, b) => Array.isArray(b) && b.map(low).includes(low(a)),
  contains_any: (a, b) => typeof a == 'string' && Array.isArray(b) && b.some((k) => k && a.includes(low(k))),
}

/** One condition; an unknown signal or operator is false, so older widgets ignore newer rules. */
const test = (sig, c) => Array.isArray(c) && own(sig, c[0]) && own(OPS, c[1]) && OPS[c[1]](sig[c[0]], c[2])

export const matches = (sig, when) =>
  Array.isArray(when) && when.some((group) => Array.isArray(group) && group.every((c) => test(sig, c)))

/** The first scenario (in priority order) meant for this device whose conditions hold now. */
export const pickScenario = (config, sig) =>
  (config.scenarios || []).find((sc) => (!sc.devices || sc.devices.includes(sig.device)) && matches(sig, sc.when))

/** Only the fields a partial override really sets. */
const set = (o) => Object.fromEntries(Object.entries(o || {}).filter(([, v]) => v != null && v !== ''))

const ruleMatches = (r, keyword, utm, scenarioId) =>
  (!(r.keywords || []).length || OPS.contains_any(keyword, r.keywords)) &&
  Object.entries(r.utm || {}).every(([k, v]) => low(utm[k] || '') === low(String(v))) &&
  (r.scenario == null || r.scenario === scenarioId)

/** Texts and design: global ← scenario's ← first matching rule's, field by field; id names what won. */
export function variant(config, keyword, utm, scenario) {
  const sc = scenario || {}
  const rule = (config.rules || []).find((r) => ruleMatches(r, keyword, utm, sc.id))
  const merge = (k) => ({ ...config[k], ...set(sc[k]), ...set(rule && rule[k]) })
  const isOwn = Object.keys({ ...set(sc.texts), ...set(sc.design) }).length
  return { id: rule ? rule.id : isOwn ? 'scenario' : 'default', texts: merge('texts'), design: merge('design') }
}
