/** W16: DOM events for the site's own scripts, plus GA4 (dataLayer) and Yandex Metrica goals. */
export function emit(name, detail, counterId) {
  const goal = 'callback_' + name
  try {
    document.dispatchEvent(new CustomEvent('callback:' + name, { detail }))
    if (name == 'closed') return
    if (Array.isArray(window.dataLayer)) window.dataLayer.push({ event: goal, ...detail })
    if (counterId && typeof window.ym == 'function') window.ym(counterId, 'reachGoal', goal)
  } catch (e) {} // the site's analytics must not break the widget
}
