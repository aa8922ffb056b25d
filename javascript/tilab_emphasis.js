// TI Lab: emphasis presets on the prompt boxes (host txt2img/img2img, and the standalone page).
// Thin by design: the rewrite itself runs in Python (POST tilab/api/emphasis/rewrite, lib_ti.api),
// this file only adds a small control, a shortcut (Alt+E), and writes the result back firing `input`.
(function () {
    "use strict";
    if (window.tilabEmphasis) return;

    var TARGETS = ["txt2img_prompt", "img2img_prompt", "txt2img_neg_prompt", "img2img_neg_prompt"];
    var state = {config: null, configAt: 0, chosen: null};

    function appRoot() {
        var app = document.querySelector("gradio-app");
        return (app && app.shadowRoot) || document;
    }

    function apiUrl(path) {
        return new URL("tilab/api/" + path, document.baseURI).toString();
    }

    function parseWeights(text) {
        return String(text).split(",").map(function (s) { return parseFloat(s); })
            .filter(function (w) { return isFinite(w) && w > 0; });
    }

    function loadConfig() {
        // Inside the host, live settings are in the global `opts`; standalone (or before opts arrive) ask the API.
        if (typeof opts !== "undefined" && opts && opts.tilab_preset_weights !== undefined) {
            return Promise.resolve({
                weights: parseWeights(opts.tilab_preset_weights),
                style: opts.tilab_emphasis_output || "explicit",
                shortcut: opts.tilab_preset_shortcut !== false
            });
        }
        // Re-read after a few seconds so a settings change reaches an open page without a reload.
        if (state.config && Date.now() - state.configAt < 3000) return Promise.resolve(state.config);
        return fetch(apiUrl("settings")).then(function (r) { return r.json(); }).then(function (c) {
            state.config = c;
            state.configAt = Date.now();
            return c;
        });
    }

    function fireInput(textarea) {
        if (typeof updateInput === "function") {
            updateInput(textarea); // the host's helper: dispatches `input` so gradio sees the change
        } else {
            textarea.dispatchEvent(new Event("input", {bubbles: true}));
        }
    }

    function apply(textarea, weight) {
        return loadConfig().then(function (config) {
            var body = {
                prompt: textarea.value,
                start: textarea.selectionStart,
                end: textarea.selectionEnd,
                weight: weight,
                style: config.style
            };
            return fetch(apiUrl("emphasis/rewrite"), {
                method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify(body)
            }).then(function (r) { return r.json(); });
        }).then(function (res) {
            if (res.error || res.message) {
                textarea.title = "TI Lab: " + (res.error || res.message);
                return res;
            }
            textarea.value = res.prompt;
            textarea.focus();
            textarea.setSelectionRange(res.start, res.end);
            fireInput(textarea);
            return res;
        });
    }

    function addControl(block, textarea) {
        if (block.querySelector(".tilab-preset-bar")) return;
        loadConfig().then(function (config) {
            if (block.querySelector(".tilab-preset-bar")) return;
            var bar = document.createElement("div");
            bar.className = "tilab-preset-bar";
            var select = document.createElement("select");
            select.className = "tilab-preset-select";
            select.title = "TI Lab: set the weight of the selected text (or the word at the cursor)." +
                (config.shortcut ? " Alt+E applies the last chosen weight." : "");
            var head = document.createElement("option");
            head.value = "";
            head.textContent = "weight…";
            select.appendChild(head);
            config.weights.forEach(function (w) {
                var o = document.createElement("option");
                o.value = String(w);
                o.textContent = "×" + w;
                select.appendChild(o);
            });
            select.addEventListener("change", function () {
                if (!select.value) return;
                state.chosen = parseFloat(select.value);
                apply(textarea, state.chosen);
                select.value = "";
            });
            bar.appendChild(select);
            block.appendChild(bar);
            block.classList.add("tilab-has-presets");
        });
    }

    function scan() {
        var root = appRoot();
        TARGETS.forEach(function (id) {
            var block = root.querySelector("#" + id);
            var textarea = block && block.querySelector("textarea");
            if (textarea) addControl(block, textarea);
        });
    }

    function onKey(event) {
        if (!(event.altKey && !event.ctrlKey && !event.metaKey && (event.key === "e" || event.key === "E" ||
              event.code === "KeyE"))) return;
        var textarea = event.target;
        if (!textarea || textarea.tagName !== "TEXTAREA") return;
        var block = textarea.closest("#" + TARGETS.join(", #"));
        if (!block) return;
        loadConfig().then(function (config) {
            if (!config.shortcut) return;
            var weight = state.chosen !== null ? state.chosen : config.weights[0];
            apply(textarea, weight);
        });
        event.preventDefault();
    }

    window.tilabEmphasis = {apply: apply, scan: scan, state: state};
    document.addEventListener("keydown", onKey, true);
    new MutationObserver(scan).observe(document.documentElement, {childList: true, subtree: true});
    scan();
})();
