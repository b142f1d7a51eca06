# Times lme4's lmer()/glmer() on one data set, for benchmarks/run.py.
#
#   Rscript benchmarks/lme4_fit.R JOBFILE
#
# JOBFILE is tab-separated, one setting per line (written by run.py):
#   csv      <path>                  data, written by run.py from the same frame Python fits
#   formula  <lme4 formula>
#   kind     lmer | glmer
#   REML     TRUE | FALSE            (lmer)
#   family   binomial | poisson      (glmer)
#   nAGQ     <int>                   (glmer)
#   warmup   <int>                   untimed fits first
#   repeats  <int>                   timed fits
#   out      <path>                  JSON result
#   col      <name> <type> [<levels file>]   type: numeric, integer, factor, ordered
# Only base R, lme4 and its dependencies are needed (JSON is written by hand).

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1L) stop("usage: Rscript lme4_fit.R JOBFILE")
job_lines <- readLines(args[[1]], warn = FALSE)
job <- list()
cols <- list()
for (ln in job_lines) {
  if (!nzchar(ln)) next
  f <- strsplit(ln, "\t", fixed = TRUE)[[1]]
  if (f[[1]] == "col") {
    cols[[length(cols) + 1L]] <- f[-1]
  } else {
    job[[f[[1]]]] <- paste(f[-1], collapse = "\t")
  }
}
getjob <- function(key, default = NULL) if (is.null(job[[key]])) default else job[[key]]

vm_kb <- function(field) {
  st <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  ln <- grep(paste0("^", field, ":"), st, value = TRUE)
  if (!length(ln)) return(NA_real_)
  as.numeric(strsplit(trimws(sub(paste0(field, ":"), "", ln)), "[[:space:]]+")[[1]][[1]])
}

# ---- minimal JSON writer -------------------------------------------------------------------
json_str <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s, fixed = TRUE)
  s <- gsub("\t", "\\\\t", s, fixed = TRUE)
  s <- gsub("\r", "\\\\r", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
json_atom <- function(v) {
  if (is.character(v) || is.factor(v)) return(ifelse(is.na(v), "null", json_str(as.character(v))))
  if (is.logical(v)) return(ifelse(is.na(v), "null", ifelse(v, "true", "false")))
  v <- as.numeric(v)
  ifelse(is.finite(v), sprintf("%.17g", v), "null")
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.data.frame(x)) x <- as.list(x)
  if (is.list(x)) {
    nm <- names(x)
    parts <- vapply(x, to_json, "")
    if (is.null(nm)) return(paste0("[", paste(parts, collapse = ","), "]"))
    return(paste0("{", paste(paste0(json_str(nm), ":", parts), collapse = ","), "}"))
  }
  a <- json_atom(x)
  if (!is.null(names(x))) return(paste0("{", paste(paste0(json_str(names(x)), ":", a), collapse = ","), "}"))
  if (length(x) == 1L && is.null(attr(x, "as_array"))) return(a)
  paste0("[", paste(a, collapse = ","), "]")
}
arr <- function(x) { attr(x, "as_array") <- TRUE; x }

# ---- data ----------------------------------------------------------------------------------
suppressPackageStartupMessages(library(lme4))
t_read <- proc.time()[["elapsed"]]
csv <- getjob("csv")
if (requireNamespace("data.table", quietly = TRUE)) {
  d <- as.data.frame(data.table::fread(csv, colClasses = "character", na.strings = c("", "NA")))
} else {
  d <- read.csv(csv, colClasses = "character", na.strings = c("", "NA"))
}
for (cs in cols) {
  nm <- cs[[1]]; ty <- cs[[2]]
  if (ty == "numeric") {
    d[[nm]] <- as.numeric(d[[nm]])
  } else if (ty == "integer") {
    d[[nm]] <- as.integer(d[[nm]])
  } else if (ty %in% c("factor", "ordered")) {
    lv <- readLines(cs[[3]], warn = FALSE, encoding = "UTF-8")
    x <- factor(d[[nm]], levels = lv, ordered = (ty == "ordered"))
    if (any(is.na(x) & !is.na(d[[nm]]))) stop("column ", nm, ": values outside the declared levels")
    d[[nm]] <- x
  } else stop("unknown column type ", ty)
}
t_read <- proc.time()[["elapsed"]] - t_read
rss_data_kb <- vm_kb("VmRSS")

kind <- getjob("kind", "lmer")
fml <- as.formula(getjob("formula"))
REML <- as.logical(getjob("REML", "TRUE"))
nAGQ <- as.integer(getjob("nAGQ", "1"))
fam <- getjob("family", "binomial")
warmup <- as.integer(getjob("warmup", "1"))
repeats <- as.integer(getjob("repeats", "3"))

fit_once <- function() {
  if (kind == "lmer") {
    lmer(fml, data = d, REML = REML)
  } else {
    glmer(fml, data = d, family = get(fam, mode = "function")(), nAGQ = nAGQ)
  }
}

warns <- character()
keep_warn <- function(w) { warns <<- unique(c(warns, conditionMessage(w))); invokeRestart("muffleWarning") }
msgs <- character()
keep_msg <- function(m) { msgs <<- unique(c(msgs, trimws(conditionMessage(m)))); invokeRestart("muffleMessage") }

# One fit, timed like system.time() (a gc() first, outside the clock) but with Sys.time() for
# the wall clock (microseconds; system.time()'s elapsed has 1 ms steps and would include the gc).
timed_fit <- function() {
  gc(verbose = FALSE)
  p0 <- proc.time()
  t0 <- Sys.time()
  fit <- withCallingHandlers(fit_once(), warning = keep_warn, message = keep_msg)
  t1 <- Sys.time()
  p1 <- proc.time()
  list(fit = fit, wall = as.numeric(difftime(t1, t0, units = "secs")),
       cpu = (p1[["user.self"]] - p0[["user.self"]]) + (p1[["sys.self"]] - p0[["sys.self"]]))
}

warm_s <- numeric()
fit <- NULL
r <- NULL
for (i in seq_len(warmup)) {
  fit <- NULL; r <- NULL  # the previous fit must not count towards this one's memory
  r <- timed_fit()
  fit <- r$fit
  warm_s <- c(warm_s, r$wall)
}
wall <- numeric(); cpu <- numeric()
for (i in seq_len(repeats)) {
  fit <- NULL; r <- NULL
  r <- timed_fit()
  fit <- r$fit
  wall <- c(wall, r$wall)
  cpu <- c(cpu, r$cpu)
}
rm(r)

# ---- estimates -----------------------------------------------------------------------------
vc <- as.data.frame(VarCorr(fit))
est <- list(
  nobs = nobs(fit),
  logLik = as.numeric(logLik(fit)),
  fixef = fixef(fit),
  theta = getME(fit, "theta"),
  varcorr = list(grp = arr(vc$grp), var1 = arr(vc$var1), var2 = arr(vc$var2),
                 vcov = arr(vc$vcov), sdcor = arr(vc$sdcor)),
  ngrps = ngrps(fit),
  feval = fit@optinfo$feval,
  optimizer = fit@optinfo$optimizer,
  conv_messages = arr(as.character(unlist(fit@optinfo$conv$lme4$messages))),
  warnings = arr(warns),
  messages = arr(msgs)
)
if (kind == "lmer") {
  est$sigma <- sigma(fit)
  if (REML) est$REMLcrit <- REMLcrit(fit) else est$deviance <- deviance(fit)
  est$crit <- if (REML) REMLcrit(fit) else deviance(fit)
} else {
  est$crit <- -2 * as.numeric(logLik(fit))
  est$deviance <- deviance(fit)
}

si <- sessionInfo()
res <- list(
  engine = "lme4",
  timings = list(warmup_s = arr(warm_s), wall_s = arr(wall), cpu_s = arr(cpu), median_s = median(wall),
                 read_s = t_read),
  memory = list(rss_after_data_mb = rss_data_kb / 1024, vmhwm_mb = vm_kb("VmHWM") / 1024),
  estimates = est,
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    Matrix = as.character(packageVersion("Matrix")),
    BLAS = if (is.null(si$BLAS)) extSoftVersion()[["BLAS"]] else si$BLAS,
    LAPACK = La_library(),
    OPENBLAS_NUM_THREADS = Sys.getenv("OPENBLAS_NUM_THREADS"),
    data_reader = if (requireNamespace("data.table", quietly = TRUE)) "data.table::fread" else "read.csv"
  )
)
writeLines(to_json(res), getjob("out"))
