// TI Lab: a folder put into one of TI Lab's folder dropdowns (recent folders, typing allowed) without a key press
// (pasted with the mouse, filled in by the browser) counts when the box loses focus. Gradio 3's dropdown takes a
// typed value on keyup only, so such a folder was not used by Run and did not follow to the other tabs.
(function () {
  const BOXES = "#tilab_dataset_folder, #tilab_captions_folder, #tilab_train_data";
  document.addEventListener("focusout", (ev) => {
    const box = ev.target;
    if (!(box instanceof HTMLInputElement) || !box.closest(BOXES) || !box.value.trim()) return;
    box.dispatchEvent(new KeyboardEvent("keyup", { key: "Unidentified", bubbles: true }));
  }, true);
})();
