// Loads the wasm module; its start function mounts the app.
import init from "./trustyconvert_web.js";

init().catch((error) => {
  const message = document.createElement("p");
  message.className = "page error";
  message.textContent = "TrustyConvert could not start in this browser. Please reload the page.";
  document.body.append(message);
  console.error(error);
});
