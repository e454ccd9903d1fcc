/** The popup's stylesheet, adopted into its shadow root; the site's colours arrive as custom properties. */
export const CSS = `
:host{all:initial}
dialog{--a:#e30611;--t:#1d2433;--b:#fff;--i:#fff;position:fixed;box-sizing:border-box;width:min(380px,calc(100vw - 24px));
max-width:none;max-height:calc(100% - 24px);overflow:auto;padding:0;border:0;border-radius:14px;background:var(--b);
color:var(--t);font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;text-align:left;
box-shadow:0 10px 40px #0005}
dialog::backdrop{background:#0004}
.p-bottom-right{inset:auto 16px 16px auto;margin:0}
.p-bottom-left{inset:auto auto 16px 16px;margin:0}
.p-center{inset:0;margin:auto}
.pv{position:relative;inset:auto;margin:0;display:block;max-width:100%}
@media (max-width:480px){dialog:not(.pv){inset:auto 0 0;width:100%;margin:0;border-radius:14px 14px 0 0}}
*{box-sizing:border-box}
.in{position:relative;padding:20px}
h2{margin:0 32px 8px 0;font-size:19px;line-height:1.25}
p{margin:0 0 10px}
.x{position:absolute;top:6px;right:6px;width:40px;height:40px;border:0;border-radius:50%;background:none;
font-size:26px;line-height:1;cursor:pointer}
input,select,button{font:inherit;color:inherit;margin:0}
label{display:block;font-size:13px;margin:10px 0 4px}
.r{display:flex;gap:6px;align-items:center}
.r>input{flex:1}
input[type=tel],select{width:100%;min-height:44px;padding:8px 10px;border:1px solid #8a8f99;border-radius:8px;
background:#fff;color:#111}
.r>select{width:auto;max-width:7.5em}
.ck{display:flex;gap:8px;align-items:flex-start}
.ck input{flex:none;width:20px;height:20px;accent-color:var(--a)}
.ct{max-height:5em;overflow:auto;font-size:12px;opacity:.85;white-space:pre-line;margin:4px 0}
.go{display:block;width:100%;min-height:46px;margin-top:12px;border:0;border-radius:8px;background:var(--a);
color:var(--i);font-weight:700;cursor:pointer}
.go:disabled{opacity:.6;cursor:default}
.sm{font-size:12px;opacity:.8;margin:10px 0 0}
a{color:inherit}
.hp{position:absolute;left:-1e4px;width:1px;height:1px}.er{margin:10px 0 0;padding-left:8px;border-left:3px solid #d00;font-size:13px}
.er:empty{display:none}
.big{font-size:22px;font-weight:700}
:focus-visible{outline:2px solid var(--a);outline-offset:2px}
[hidden]{display:none!important}
`
