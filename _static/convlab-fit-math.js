// On a narrow screen a display equation wider than the column is scaled down to fit it,
// instead of scrolling sideways (MathJax 3 does not break long display equations).
(function () {
  function fit() {
    document.querySelectorAll("div.math mjx-container[display='true']").forEach(function (c) {
      c.style.fontSize = "";
      for (var tries = 0; tries < 3 && c.scrollWidth > c.clientWidth + 1; tries++) {
        var now = parseFloat(c.style.fontSize) || 100;
        c.style.fontSize = Math.max(50, Math.floor((now * c.clientWidth) / c.scrollWidth)) + "%";
      }
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      setTimeout(whenTypeset, 100);
    }
  }
  window.addEventListener("resize", fit);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", whenTypeset);
  } else {
    whenTypeset();
  }
})();
