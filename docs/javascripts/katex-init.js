// Typeset the formulas that pymdownx.arithmatex (generic mode) left as \( ... \) and \[ ... \]
// inside elements of class "arithmatex", with the KaTeX that ships with attnlab (no network).
(function () {
  function typeset() {
    var options = {
      delimiters: [
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
      ],
      throwOnError: false,
    };
    document.querySelectorAll(".arithmatex").forEach(function (el) {
      renderMathInElement(el, options);
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(typeset); // Material's page-load observable
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", typeset);
  } else {
    typeset();
  }
})();
