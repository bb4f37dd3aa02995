// MathJax 3 (served from this site, assets/mathjax/): the equations of the guide and of the
// docstrings (pymdownx.arithmatex: \( \) and \[ \]) and of the notebooks' Markdown ($ and $$).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: "tex2jax_ignore",
    processHtmlClass: "tex2jax_process",
  },
  loader: { load: [] },
};
