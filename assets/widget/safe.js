/** Nothing the widget does may throw into the host page, whose error tracker would blame the site for it. */
export const safe = (fn) => (...args) => {
  try {
    const r = fn(...args)
    return r && r.catch ? r.catch(() => {}) : r // async handlers: no unhandled rejections either
  } catch (e) {}
}
