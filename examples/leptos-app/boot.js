// Loads the wasm module built into pkg/ (see README.md); its start function mounts the
// page. A separate file rather than an inline script, so a strict Content-Security-Policy
// (`script-src 'self'`) allows it.
import init from "./pkg/leptos_app.js";

init().catch((error) => console.error(error));
