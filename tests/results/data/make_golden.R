## Generates the golden files used by tests/results/test_summary_format.py and
## tests/results/test_varcorr_format.py.
##
## Run with:  Rscript tests/results/data/make_golden.R   (from the repository root)
## Produced with R 4.2.2 / lme4 1.1-31 / Matrix 1.5-3 (Debian 12), C.UTF-8 locale,
## default options (width = 80, digits = 7).
##
## For every case it stores (a) the text printed by print(summary(fit)) and
## print(VarCorr(fit)), (b) as.data.frame(VarCorr(fit)), and (c) the numbers
## lme4 computed, at full precision, which the Python formatter is fed.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ddir <- "/work/shared/data"
schema <- jsonlite::fromJSON(file.path(ddir, "schema.json"), simplifyVector = FALSE)
rd <- function(name) {
  d <- read.csv(file.path(ddir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  cols <- schema[[name]]$columns
  for (cn in names(cols)) {
    ty <- cols[[cn]]$type
    if (ty %in% c("factor", "ordered factor"))
      d[[cn]] <- factor(as.character(d[[cn]]), levels = unlist(cols[[cn]]$levels),
                        ordered = (ty == "ordered factor"))
  }
  d
}
sleepstudy <- rd("sleepstudy"); Dyestuff <- rd("dyestuff"); Dyestuff2 <- rd("dyestuff2")
Penicillin <- rd("penicillin"); Pastes <- rd("pastes"); InstEval <- rd("insteval")
cbpp <- rd("cbpp"); grouseticks <- rd("grouseticks")

outdir <- "tests/results/data"
cases <- list()
add <- function(id, expr) cases[[id]] <<- substitute(expr)

add("L01_sleep_slope_reml", lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
add("L02_sleep_slope_ml", lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE))
add("L03_sleep_uncorr", lmer(Reaction ~ Days + (Days || Subject), sleepstudy))
add("L04_dyestuff", lmer(Yield ~ 1 + (1 | Batch), Dyestuff))
add("L05_dyestuff2_singular", lmer(Yield ~ 1 + (1 | Batch), Dyestuff2))
add("L06_penicillin_crossed", lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
add("L07_pastes_nested", lmer(strength ~ 1 + (1 | batch/cask), Pastes))
add("L08_insteval_crossed", lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), InstEval))
add("G01_cbpp_laplace", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial))
add("G02_cbpp_agq25", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial, nAGQ = 25))
add("G03_cbpp_probit", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial(link = "probit")))
add("G04_grouseticks_pois", glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), grouseticks, family = poisson))
## extra cases
add("X01_sleep_quad_3x3", lmer(Reaction ~ Days + I(Days^2) + (Days + I(Days^2) | Subject), sleepstudy))
add("X02_pastes_batch_fixed", lmer(strength ~ batch + (1 | sample), Pastes))
add("X03_penicillin_p24", lmer(diameter ~ plate + (1 | sample), Penicillin))
add("X04_grouse_pois_small_p", glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), grouseticks, family = poisson))
add("X05_cbpp_pois_offset", glmer(incidence ~ period + (1 | herd), cbpp, family = poisson, offset = log(size)))
add("X06_grouse_nb", glmer.nb(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), grouseticks))
add("X07_sleep_poly_ml", lmer(Reaction ~ poly(Days, 3) + (1 | Subject), sleepstudy, REML = FALSE))
add("X08_insteval_lectage", lmer(y ~ lectage + studage + (1 | s), InstEval, REML = FALSE))
add("X09_dyestuff2_ml_singular", lmer(Yield ~ 1 + (1 | Batch), Dyestuff2, REML = FALSE))
add("X10_sleep_corr_uncorr_mix", lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject) + (Days | Subject), sleepstudy))

sleepstudy$Dbin <- factor(sleepstudy$Days %/% 2)
sleepstudy$w <- rep(c(0.5, 1, 2), length.out = nrow(sleepstudy))
sleepstudy$subject_identifier_long_name <- sleepstudy$Subject
sleepstudy$another_grouping_factor_with_long_name <- factor(sleepstudy$Days %% 3)
add("X11_sleep_factor_slope_5x5", lmer(Reaction ~ Days + (0 + Dbin | Subject), sleepstudy))
add("X12_sleep_weights_control", lmer(Reaction ~ Days + (Days | Subject), sleepstudy, weights = w, control = lmerControl(optimizer = "bobyqa")))
add("X13_cbpp_nAGQ0", glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial, nAGQ = 0))
add("X14_sleep_rank_deficient", lmer(Reaction ~ Days + I(2 * Days) + (1 | Subject), sleepstudy))
add("X15_sleep_no_fixef", lmer(Reaction ~ 0 + (1 | Subject), sleepstudy))
add("X16_sleep_gamma", glmer(Reaction ~ Days + (1 | Subject), sleepstudy, family = Gamma(link = "log")))
add("X17_sleep_long_group_names", lmer(Reaction ~ Days + (1 | subject_identifier_long_name) + (1 | another_grouping_factor_with_long_name), sleepstudy))
add("X18_sleep_uncorr_3terms", lmer(Reaction ~ Days + (Days + I(Days^2) || Subject), sleepstudy))

`%||%` <- function(a, b) if (is.null(a)) b else a
num <- function(x) { x <- as.numeric(x); x }
res <- list()
for (id in names(cases)) {
  cat("fitting", id, "\n")
  msgs <- character(); warns <- character()
  fit <- withCallingHandlers(eval(cases[[id]]),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") })
  s <- summary(fit)
  pmsgs <- character()
  printed <- withCallingHandlers(capture.output(print(s)),
    message = function(m) { pmsgs <<- c(pmsgs, conditionMessage(m)); invokeRestart("muffleMessage") })
  vc <- VarCorr(fit)
  vc_printed <- capture.output(print(vc))
  vc_var_printed <- capture.output(print(vc, comp = c("Variance", "Std.Dev.")))
  vc_var_only <- capture.output(print(vc, comp = "Variance"))
  vdf <- as.data.frame(vc)
  vcl <- lapply(seq_along(vc), function(i) list(group = names(fit@cnms)[i], vcname = names(vc)[i],
                 names = colnames(vc[[i]]), cov = unname(as.matrix(vc[[i]]))))
  useSc <- attr(vc, "useSc")
  cf <- s$coefficients
  corF <- if (!is.null(s$vcov@factors$correlation)) as(s$vcov@factors$correlation, "matrix") else NULL
  oi <- fit@optinfo
  aic <- s$AICtab
  res[[id]] <- list(
    id = id, call = paste(deparse(cases[[id]]), collapse = " "),
    kind = if (isGLMM(fit)) "glmer" else "lmer",
    reml = isREML(fit), methTitle = s$methTitle, objClass = class(fit)[1],
    family = s$family, link = s$link,
    formula_deparse = deparse(fit@call$formula),
    data_name = if (!is.null(fit@call$data)) deparse(fit@call$data) else NULL,
    weights_name = if (!is.null(fit@call$weights)) deparse(fit@call$weights) else NULL,
    offset_name = if (!is.null(fit@call$offset)) deparse(fit@call$offset) else NULL,
    control_line = if (!is.null(fit@call$control)) deparse(fit@call$control) else NULL,
    AICtab = as.list(aic),
    ## long residual vectors: keep only the order statistics quantile(type = 7) reads
    scaled_residuals = if (length(s$residuals) <= 2000) num(s$residuals) else NULL,
    scaled_residuals_os = if (length(s$residuals) <= 2000) NULL else {
      r <- sort(num(s$residuals)); n <- length(r); ix <- 1 + (n - 1) * c(0, .25, .5, .75, 1)
      ii <- sort(unique(c(floor(ix), ceiling(ix))))
      list(n = n, index = ii, value = r[ii]) },
    varcorr = vcl, sigma = if (useSc) attr(vc, "sc") else NULL, useSc = useSc,
    nobs = s$devcomp$dims[["n"]],
    ngrps = as.list(s$ngrps),
    ngrps_names = names(s$ngrps),
    coef = list(rownames = rownames(cf), colnames = colnames(cf), values = unname(cf)),
    vcov_corr = if (is.null(corF)) NULL else unname(corF),
    fitMsgs = s$fitMsgs,
    optinfo = list(optimizer = oi$optimizer, conv = oi$conv$opt, message = oi$message,
                   lme4_messages = unlist(oi$conv$lme4$messages), warnings = unlist(oi$warnings)),
    nb_theta = if (grepl("Negative Binomial", s$family %||% "")) getME(fit, "glmer.nb.theta") else NULL,
    fit_warnings = warns, fit_messages = msgs,
    printed = printed, print_messages = pmsgs,
    varcorr_printed = vc_printed, varcorr_printed_var = vc_var_printed,
    varcorr_printed_var_only = vc_var_only,
    varcorr_df = list(grp = vdf$grp, var1 = vdf$var1, var2 = vdf$var2, vcov = vdf$vcov, sdcor = vdf$sdcor)
  )
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE, matrix = "rowmajor"),
           file.path(outdir, "lme4_summaries.json"))
cat("done\n")
