## R's answers for the inputs in format_inputs.json (see make_format_inputs.py).
## Produced with R 4.2.2 / lme4 1.1-31 (Debian 12), C.UTF-8 locale, default options.
## Run from the repository root, after make_format_inputs.py (which writes
## format_inputs.json):  Rscript tests/results/data/make_format_golden.R
## Output: r_format_golden.json, R's answers in the order of the inputs.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
d <- "tests/results/data"
cs <- fromJSON(file.path(d, "format_inputs.json"), simplifyVector = FALSE)
g17 <- function(x) sprintf("%.17g", x)
out <- list(
  format = lapply(cs$format, function(c) {
    x <- unlist(c$x)
    list(fmt = format(x, digits = c$digits, nsmall = c$nsmall), rnd = g17(round(x, c$rd)),
         sig = g17(signif(x, c$digits)), zap = g17(zapsmall(x, c$digits)))
  }),
  abbrev = lapply(cs$abbrev, function(c) unname(abbreviate(unlist(c$x), c$m))),
  pval = lapply(cs$pval, function(c) format.pval(unlist(c$x), digits = c$digits)),
  coefmat = lapply(cs$coefmat, function(c) {
    m <- cbind(Estimate = unlist(c$est), `Std. Error` = unlist(c$se), `t value` = unlist(c$t))
    if (!is.null(c$p)) { colnames(m)[3] <- "z value"; m <- cbind(m, `Pr(>|z|)` = unlist(c$p)) }
    rownames(m) <- unlist(c$names)
    capture.output(printCoefmat(m, digits = c$digits))
  }),
  quant = lapply(cs$quant, function(c) g17(quantile(unlist(c$x)))),
  formulas = lapply(cs$formulas, function(s) deparse(expandDoubleVerts(as.formula(s)))),
  strwrap = lapply(cs$strwrap, function(s) list(w78 = strwrap(s, width = 78, exdent = 2),
                                                  w30 = strwrap(s, width = 30, indent = 1)))
)
writeLines(toJSON(out, auto_unbox = FALSE, digits = NA),
           file.path(d, "r_format_golden.json"))
