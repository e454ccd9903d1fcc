"""Checks the browser tests share: CSP violations collected in the page, and a page wider than its window."""
from __future__ import annotations

# Chromium's console message for a blocked inline handler does not say which element: keep the violations.
CSP_WATCH_JS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
    const el = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 160) : String(e.target);
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} on ${el}`);
});
"""

# The page's width against the window's, and the outermost elements that stick out (to say what to fix).
OVERFLOW_JS = """() => {
    const width = window.innerWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
        const box = el.getBoundingClientRect();
        const parentBox = el.parentElement ? el.parentElement.getBoundingClientRect() : null;
        if (box.width > 0 && box.right > width + 0.5 && !(parentBox && parentBox.right > width + 0.5)) {
            const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/) : [];
            const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                + classes.filter(Boolean).map((c) => '.' + c).join('');
            wide.push(`${name} right=${Math.round(box.right)}`);
        }
    }
    return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wide: wide.slice(0, 8)};
}"""


def csp_violations(page) -> list[str]:
    """What the CSP blocked on this page (needs `page.add_init_script(CSP_WATCH_JS)` before it loaded)."""
    return page.evaluate("() => window.__cspViolations || []")


def overflow_problem(page) -> str | None:
    """A page wider than its window, naming the outermost elements that stick out; None when it fits."""
    layout = page.evaluate(OVERFLOW_JS)
    if layout["scrollWidth"] <= layout["innerWidth"]:
        return None
    return f"{layout['scrollWidth']}px wide in a {layout['innerWidth']}px window; sticking out: {layout['wide']}"
