// The components' shared styles. The host themes them with CSS custom properties, which pierce the shadow roots:
//   leadbridge-integrations { --lb-color-primary: #0a7d5a; --lb-font-family: Inter, sans-serif; }
export const themeProperties = {
  "--lb-color-primary": "#1f5fbf",
  "--lb-color-on-primary": "#ffffff",
  "--lb-color-text": "#1d232b",
  "--lb-color-muted": "#525c69",
  "--lb-color-surface": "#ffffff",
  "--lb-color-border": "#c9d0d9",
  "--lb-color-success": "#17683a",
  "--lb-color-warning": "#8a5300",
  "--lb-color-danger": "#b42318",
  "--lb-radius": "6px",
  "--lb-font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  "--lb-font-size": "14px",
  "--lb-focus-ring": "0 0 0 3px rgba(31, 95, 191, 0.45)",
} as const;

const fallbacks = Object.entries(themeProperties)
  .map(([name, value]) => `${name.replace("--lb-", "--_lb-")}: var(${name}, ${value});`).join("\n  ");

export const baseStyles = `
:host {
  ${fallbacks}
  display: block;
  font-family: var(--_lb-font-family);
  font-size: var(--_lb-font-size);
  color: var(--_lb-color-text);
  line-height: 1.45;
}
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
h2 { font-size: 1.15em; margin: 0 0 .75em; }
h3 { font-size: 1em; margin: 0 0 .4em; }
button {
  font: inherit; cursor: pointer; border-radius: var(--_lb-radius); padding: .45em 1em;
  border: 1px solid var(--_lb-color-primary); background: var(--_lb-color-primary); color: var(--_lb-color-on-primary);
}
button.secondary { background: var(--_lb-color-surface); color: var(--_lb-color-primary); }
button.danger { background: var(--_lb-color-surface); color: var(--_lb-color-danger); border-color: var(--_lb-color-danger); }
button:disabled { opacity: .55; cursor: not-allowed; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline: none; box-shadow: var(--_lb-focus-ring);
}
a { color: var(--_lb-color-primary); }
input, select { font: inherit; padding: .35em .5em; border: 1px solid var(--_lb-color-border); border-radius: var(--_lb-radius);
  background: var(--_lb-color-surface); color: var(--_lb-color-text); }
label { display: inline-flex; flex-direction: column; gap: .2em; color: var(--_lb-color-muted); font-size: .92em; }
.card { border: 1px solid var(--_lb-color-border); border-radius: var(--_lb-radius); background: var(--_lb-color-surface);
  padding: 1em; }
.row { display: flex; gap: .75em; align-items: center; flex-wrap: wrap; }
.muted { color: var(--_lb-color-muted); }
.badge { display: inline-block; border-radius: 999px; padding: .1em .7em; font-size: .85em; font-weight: 600;
  border: 1px solid currentColor; }
.badge.connected, .badge.success { color: var(--_lb-color-success); }
.badge.needs_reauth, .badge.skipped { color: var(--_lb-color-warning); }
.badge.disconnected { color: var(--_lb-color-muted); }
.badge.failed { color: var(--_lb-color-danger); }
.notice { border-left: 4px solid var(--_lb-color-primary); padding: .5em .75em; margin: .75em 0; background: var(--_lb-color-surface); }
.notice.error { border-color: var(--_lb-color-danger); color: var(--_lb-color-danger); }
.notice.success { border-color: var(--_lb-color-success); color: var(--_lb-color-success); }
.field-error { color: var(--_lb-color-danger); font-size: .9em; }
ul.plain { list-style: none; margin: 0; padding: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4em .5em; border-bottom: 1px solid var(--_lb-color-border); vertical-align: top; }
th { color: var(--_lb-color-muted); font-weight: 600; font-size: .92em; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
