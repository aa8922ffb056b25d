// TI Lab: emphasis presets on the prompt boxes (host txt2img/img2img, and the standalone page).
// Thin by design: the rewrite itself runs in Python (POST tilab/api/emphasis/rewrite, lib_ti.api),
// this file only adds a small control, a shortcut (Alt+E), and writes the result back firing `input`.
// It also keeps TI Lab's Emphasis-tab prompt and the prompt box being edited (host txt2img / standalone
// scratch box) equal, and puts an embedding into that prompt (lib_ti/ui/workspace.py).
// Offsets: the browser counts UTF-16 code units, Python counts code points (an emoji is 2 vs 1), so every
// offset is converted on the way out and on the way back.
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

    // UTF-16 offset (what selectionStart gives) -> code point offset (what Python slices), and back.
    function toCodePoints(text, offset) {
        return Array.from(text.slice(0, offset)).length;
    }

    function toUtf16(text, offset) {
        return Array.from(text).slice(0, offset).join("").length;
    }

    function note(textarea, text, isError) {
        var block = textarea.closest("#" + TARGETS.join(", #"));
        var bar = block && block.querySelector(".tilab-preset-bar");
        textarea.title = "TI Lab: " + text;
        if (!bar) return;
        var span = bar.querySelector(".tilab-preset-note");
        if (!span) {
            span = document.createElement("span");
            span.className = "tilab-preset-note";
            bar.appendChild(span);
        }
        span.textContent = text;
        span.classList.toggle("tilab-preset-note-error", !!isError);
    }

    function fireInput(textarea) {
        if (typeof updateInput === "function") {
            updateInput(textarea); // the host's helper: dispatches `input` so gradio sees the change
        } else {
            textarea.dispatchEvent(new Event("input", {bubbles: true}));
        }
    }

    function apply(textarea, weight, how) {
        var before = textarea.value;
        return loadConfig().then(function (config) {
            var body = {
                prompt: before,
                start: toCodePoints(before, textarea.selectionStart),
                end: toCodePoints(before, textarea.selectionEnd),
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
                note(textarea, res.error || res.message, true);
                return res;
            }
            textarea.value = res.prompt;
            textarea.focus();
            textarea.setSelectionRange(toUtf16(res.prompt, res.start), toUtf16(res.prompt, res.end));
            fireInput(textarea);
            var term = Array.from(res.prompt).slice(res.start, res.end).join("");
            note(textarea, "×" + weight + (how ? " (" + how + ")" : "") + ": " + term + " now weighs " +
                 Math.round(res.weight * 10000) / 10000);
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
                apply(textarea, state.chosen, "chosen");
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
            var last = state.chosen !== null;
            var weight = last ? state.chosen : config.weights[0];
            apply(textarea, weight, last ? "Alt+E: last chosen weight" : "Alt+E: first preset weight");
        });
        event.preventDefault();
    }

    function textareaOf(id) {
        var block = appRoot().querySelector("#" + id);
        return block && block.querySelector("textarea");
    }

    function setIfDifferent(textarea, value) {
        if (!textarea || textarea.value === value) return false;
        textarea.value = value;
        fireInput(textarea);
        return true;
    }

    // The Emphasis tab's prompt changed (typed, or rewritten by Python): the prompt being edited follows.
    function mirrorFromTab(value) {
        setIfDifferent(textareaOf("txt2img_prompt"), value === null || value === undefined ? "" : String(value));
    }

    // The prompt being edited was typed into (or rewritten by a preset): the Emphasis tab follows.
    function onInput(event) {
        var t = event.target;
        if (!t || t.tagName !== "TEXTAREA") return;
        var block = t.closest("#" + TARGETS.join(", #"));
        var span = block && block.querySelector(".tilab-preset-note");
        if (span) span.textContent = ""; // the note describes the last rewrite only; apply() writes it after this
        if (!t.closest("#txt2img_prompt")) return;
        setIfDifferent(textareaOf("tilab_emphasis_prompt"), t.value);
    }

    // Add `term` at the end of the prompt being edited; inside the host, open txt2img where it is.
    function putInPrompt(term) {
        var textarea = textareaOf("txt2img_prompt");
        if (!textarea) return false;
        var prompt = textarea.value.replace(/\s+$/, "");
        setIfDifferent(textarea, prompt ? prompt + (prompt.slice(-1) === "," ? " " : ", ") + term : term);
        if (typeof switch_to_txt2img === "function") switch_to_txt2img();
        textarea.scrollIntoView({block: "center"});
        textarea.focus();
        return true;
    }

    window.tilabEmphasis = {apply: apply, scan: scan, state: state, mirrorFromTab: mirrorFromTab,
                            putInPrompt: putInPrompt, toCodePoints: toCodePoints, toUtf16: toUtf16};
    document.addEventListener("keydown", onKey, true);
    document.addEventListener("input", onInput, true);
    new MutationObserver(scan).observe(document.documentElement, {childList: true, subtree: true});
    scan();
})();
