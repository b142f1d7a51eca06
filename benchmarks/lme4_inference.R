# Times lme4's confint() (profile or parametric bootstrap) on one fitted model, for
# benchmarks/bench_inference.py.
#
#   Rscript benchmarks/lme4_inference.R JOBFILE
#
# JOBFILE is tab-separated, one setting per line (written by bench_inference.py):
#   csv          <path>                 data, written from the same frame mixedlm fits
#   formula      <lme4 formula>
#   kind         lmer | glmer
#   REML         TRUE | FALSE           (lmer)
#   family       binomial | poisson     (glmer)
#   nAGQ         <int>                  (glmer)
#   method       profile | boot
#   nsim         <int>                  bootstrap replicates of the timed calls
#   seed         <int>                  bootstrap seed
#   warmup       <int>                  untimed fit + confint rounds first
#   warmup_nsim  <int>                  bootstrap replicates of the warm-up rounds
#   repeats      <int>                  timed rounds (a fresh fit, then confint on it)
#   out          <path>                 JSON result
#   col          <name> <type> [<levels file>]   type: numeric, integer, factor, ordered
# Needs base R and lme4 only; the JSON is written by hand below.

argv <- commandArgs(trailingOnly = TRUE)
if (length(argv) != 1L) stop("usage: Rscript lme4_inference.R JOBFILE")

settings <- list()
columns <- list()
for (line in readLines(argv[[1]], warn = FALSE)) {
  if (!nzchar(line)) next
  parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
  key <- parts[[1]]
  if (key == "col") {
    columns[[length(columns) + 1L]] <- parts[-1]
  } else {
    settings[[key]] <- paste(parts[-1], collapse = "\t")
  }
}
setting <- function(key, default = NULL) {
  v <- settings[[key]]
  if (is.null(v)) default else v
}

# ---- tiny JSON encoder --------------------------------------------------------------------
enc_string <- function(x) {
  x <- gsub("\\", "\\\\", x, fixed = TRUE)
  x <- gsub("\"", "\\\"", x, fixed = TRUE)
  x <- gsub("\n", "\\n", x, fixed = TRUE)
  x <- gsub("\r", "\\r", x, fixed = TRUE)
  x <- gsub("\t", "\\t", x, fixed = TRUE)
  paste0("\"", x, "\"")
}
enc_scalars <- function(v) {
  if (is.character(v)) return(ifelse(is.na(v), "null", enc_string(v)))
  if (is.logical(v)) return(ifelse(is.na(v), "null", ifelse(v, "true", "false")))
  v <- as.numeric(v)
  ifelse(is.finite(v), formatC(v, digits = 17, format = "g"), "null")
}
# Lists become objects (named) or arrays (unnamed); atomic vectors of length 1 become scalars
# unless wrapped in I() (then always an array); named atomic vectors become objects.
enc <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    inner <- vapply(x, enc, character(1))
    if (is.null(names(x))) return(paste0("[", paste(inner, collapse = ","), "]"))
    return(paste0("{", paste0(enc_string(names(x)), ":", inner, collapse = ","), "}"))
  }
  as_array <- inherits(x, "AsIs")
  keys <- names(x)
  x <- unclass(x)
  names(x) <- NULL
  vals <- enc_scalars(x)
  if (!is.null(keys)) return(paste0("{", paste0(enc_string(keys), ":", vals, collapse = ","), "}"))
  if (length(vals) == 1L && !as_array) return(vals)
  paste0("[", paste(vals, collapse = ","), "]")
}

# ---- the data, with the declared factor levels -----------------------------------------------
suppressPackageStartupMessages(library(lme4))
dat <- read.csv(setting("csv"), colClasses = "character", na.strings = c("", "NA"))
for (cl in columns) {
  name <- cl[[1]]
  type <- cl[[2]]
  raw <- dat[[name]]
  if (type == "numeric") {
    dat[[name]] <- as.numeric(raw)
  } else if (type == "integer") {
    dat[[name]] <- as.integer(raw)
  } else if (type == "factor" || type == "ordered") {
    levs <- readLines(cl[[3]], warn = FALSE, encoding = "UTF-8")
    f <- factor(raw, levels = levs, ordered = (type == "ordered"))
    if (any(is.na(f) & !is.na(raw))) stop("column ", name, " has values outside its declared levels")
    dat[[name]] <- f
  } else {
    stop("unknown column type: ", type)
  }
}

kind <- setting("kind", "lmer")
model_formula <- as.formula(setting("formula"))
use_reml <- as.logical(setting("REML", "TRUE"))
family_name <- setting("family", "binomial")
n_agq <- as.integer(setting("nAGQ", "1"))
method <- setting("method", "profile")
nsim <- as.integer(setting("nsim", "200"))
warmup_nsim <- as.integer(setting("warmup_nsim", setting("nsim", "200")))
seed <- as.integer(setting("seed", "101"))
n_warmup <- as.integer(setting("warmup", "1"))
n_repeats <- as.integer(setting("repeats", "3"))

fit_model <- function() {
  if (kind == "lmer") return(lmer(model_formula, data = dat, REML = use_reml))
  glmer(model_formula, data = dat, family = get(family_name, mode = "function")(), nAGQ = n_agq)
}
# oldNames = FALSE only renames the rows (sd_(Intercept)|Subject instead of .sig01), as mixedlm
# names them; quiet = TRUE drops the "Computing ... confidence intervals" message.
run_confint <- function(fit, n) {
  if (method == "profile") {
    return(confint(fit, method = "profile", oldNames = FALSE, quiet = TRUE))
  }
  confint(fit, method = "boot", nsim = n, seed = seed, .progress = "none", parallel = "no",
          oldNames = FALSE, quiet = TRUE)
}

seen_warnings <- character()
seen_messages <- character()
on_warning <- function(w) {
  seen_warnings <<- union(seen_warnings, conditionMessage(w))
  invokeRestart("muffleWarning")
}
on_message <- function(m) {
  seen_messages <<- union(seen_messages, trimws(conditionMessage(m)))
  invokeRestart("muffleMessage")
}
quietly <- function(expr) withCallingHandlers(expr, warning = on_warning, message = on_message)

# Wall clock from Sys.time() (microseconds), CPU from proc.time() of this process; gc() before
# the fit and again before confint(), both outside the clocks.
cpu_now <- function() {
  p <- proc.time()
  p[["user.self"]] + p[["sys.self"]]
}
one_round <- function(n) {
  gc(verbose = FALSE)
  c0 <- cpu_now(); t0 <- Sys.time()
  fit <- quietly(fit_model())
  t1 <- Sys.time(); c1 <- cpu_now()
  gc(verbose = FALSE)
  c2 <- cpu_now(); t2 <- Sys.time()
  ci <- quietly(run_confint(fit, n))
  t3 <- Sys.time(); c3 <- cpu_now()
  list(fit = fit, ci = ci,
       fit_wall = as.numeric(difftime(t1, t0, units = "secs")), fit_cpu = c1 - c0,
       ci_wall = as.numeric(difftime(t3, t2, units = "secs")), ci_cpu = c3 - c2)
}

warm_ci <- numeric()
for (i in seq_len(n_warmup)) {
  r <- one_round(warmup_nsim)
  warm_ci <- c(warm_ci, r$ci_wall)
}
# Keep the timed rounds' warnings and messages only (the warm-up's bootstrap is shorter).
seen_warnings <- character()
seen_messages <- character()
fit_wall <- numeric(); fit_cpu <- numeric(); ci_wall <- numeric(); ci_cpu <- numeric()
r <- NULL
for (i in seq_len(n_repeats)) {
  r <- NULL
  r <- one_round(nsim)
  fit_wall <- c(fit_wall, r$fit_wall)
  fit_cpu <- c(fit_cpu, r$fit_cpu)
  ci_wall <- c(ci_wall, r$ci_wall)
  ci_cpu <- c(ci_cpu, r$ci_cpu)
}

ci <- r$ci
fit <- r$fit
crit <- if (kind == "lmer" && use_reml) REMLcrit(fit) else -2 * as.numeric(logLik(fit))
total_wall <- fit_wall + ci_wall
total_cpu <- fit_cpu + ci_cpu
si <- sessionInfo()
result <- list(
  engine = "lme4",
  status = "ok",
  version = packageDescription("lme4")$Version,
  timings = list(
    warmup_confint_s = I(warm_ci),
    fit_wall_s = I(fit_wall), fit_cpu_s = I(fit_cpu),
    confint_wall_s = I(ci_wall), confint_cpu_s = I(ci_cpu),
    total_wall_s = I(total_wall), total_cpu_s = I(total_cpu),
    confint_median_s = median(ci_wall), confint_min_s = min(ci_wall),
    confint_cpu_median_s = median(ci_cpu),
    total_median_s = median(total_wall), total_cpu_median_s = median(total_cpu),
    fit_median_s = median(fit_wall)
  ),
  nsim = if (method == "boot") nsim else NULL,
  warmup_nsim = if (method == "boot") warmup_nsim else NULL,
  intervals = list(rows = I(rownames(ci)), lower = I(unname(ci[, 1])), upper = I(unname(ci[, 2])),
                   columns = I(colnames(ci))),
  criterion = crit,
  warnings = I(seen_warnings),
  messages = I(seen_messages),
  vmhwm_mb = {
    st <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
    hw <- grep("^VmHWM:", st, value = TRUE)
    if (length(hw)) as.numeric(strsplit(trimws(sub("VmHWM:", "", hw)), "[[:space:]]+")[[1]][[1]]) / 1024 else NULL
  },
  versions = list(
    R = R.version.string,
    lme4 = packageDescription("lme4")$Version,
    Matrix = packageDescription("Matrix")$Version,
    BLAS = if (is.null(si$BLAS)) extSoftVersion()[["BLAS"]] else si$BLAS,
    OPENBLAS_NUM_THREADS = Sys.getenv("OPENBLAS_NUM_THREADS")
  )
)
writeLines(enc(result), setting("out"))
