// TI Lab Captions tab: keyboard navigation only; saving and moving happen in Python.
// Arrow Left/Right (outside text boxes) or Alt+Arrow Left/Right (anywhere, also while editing a caption)
// click the tab's Previous/Next buttons. Links marked data-tilab-goto="<Tab title>" switch TI Lab sub-tabs.
(function () {
    "use strict";
    if (window.tilabCaptions) return;

    function appRoot() {
        var app = document.querySelector("gradio-app");
        return (app && app.shadowRoot) || document;
    }

    function visible(el) {
        return !!(el && el.offsetParent !== null);
    }

    function onKey(e) {
        if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
        if (e.ctrlKey || e.metaKey || e.shiftKey) return;
        var root = appRoot();
        var editor = root.querySelector("#tilab_captions_editor");
        if (!visible(editor)) return; // the Captions tab is not on screen
        var target = (e.composedPath && e.composedPath()[0]) || e.target;
        var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.isContentEditable);
        if (typing && !e.altKey) return;
        var button = root.querySelector(e.key === "ArrowLeft" ? "#tilab_captions_prev" : "#tilab_captions_next");
        if (!visible(button)) return;
        e.preventDefault();
        if (typing) target.blur(); // the caption is saved on blur, before the move
        button.click();
    }

    function onClick(e) {
        var target = (e.composedPath && e.composedPath()[0]) || e.target;
        var link = target && target.closest && target.closest("[data-tilab-goto]");
        if (!link) return;
        e.preventDefault();
        var title = link.getAttribute("data-tilab-goto");
        var buttons = appRoot().querySelectorAll("#tilab_tabs button");
        for (var i = 0; i < buttons.length; i++) {
            if (buttons[i].textContent.trim() === title) {
                buttons[i].click();
                return;
            }
        }
    }

    document.addEventListener("keydown", onKey, true);
    document.addEventListener("click", onClick, true);
    window.tilabCaptions = {onKey: onKey};
})();
