/** Typing a phone number with the country's template ('#' = one digit), e.g. '### ###-##-##' for +7. */
export const digits = (v) => v.replace(/\D/g, '')
export const capacity = (tpl) => tpl.split('#').length - 1

/** Digits of what was typed or pasted, without a repeated calling code or trunk prefix (+7 / 8 for RU). */
export function national(raw, country) {
  let d = digits(raw)
  const max = capacity(country.template)
  if (d.length > max && country.dial && d.startsWith(country.dial)) d = d.slice(country.dial.length)
  if (d.length > max && /^[08]/.test(d)) d = d.slice(1)
  return d.slice(0, max)
}

/** Literal characters appear only between digits, so Backspace never gets stuck on a separator. */
export function format(d, tpl) {
  let out = ''
  let i = 0
  for (const ch of tpl) {
    if (i >= d.length) break
    out += ch == '#' ? d[i++] : ch
  }
  return out
}

/** Reformat the input as typed, keeping the caret after the same number of digits. */
export function reformat(input, country) {
  const before = digits(input.value.slice(0, input.selectionStart || 0)).length
  const v = (input.value = format(national(input.value, country), country.template))
  let p = 0
  for (let n = 0; p < v.length && n < before; p++) if (/\d/.test(v[p])) n++
  if (input.matches(':focus')) input.setSelectionRange(p, p)
}
