# Produces tests/engines/data/family_reference.json: R's values of every link function
# (linkfun, linkinv, mu.eta, valideta) and every family's variance, dev.resids, aic,
# initialize (mustart) and per-observation log-densities, for tests/engines/test_families.py.
# Run from the repository root with
#   Rscript tests/engines/data/make_family_reference.R
# (R 4.2 with MASS, jsonlite, statmod and lme4; Debian 12: r-base-core r-cran-lme4
# r-cran-statmod).  The tests never need R.
#
# Every number is written as a string with 17 significant digits ("%.17g"), so doubles
# round-trip exactly; "Inf", "-Inf" and "NaN" are parsed by Python's float().
suppressPackageStartupMessages({library(MASS); library(jsonlite); library(statmod); library(lme4)})

num <- function(x) sprintf("%.17g", as.numeric(x))
eps <- .Machine$double.eps

## ---- links -----------------------------------------------------------------------------
eta_unit <- c(-2e15, -1e15, -800, -40, -36, -30.5, -30, -29.999, -20, -10, -8.2,
              -8.125890664701906, -8, -5, -1.5, -1, -1e-8, 0, 1e-8, 0.5, 1, 1.5, 3, 5, 8,
              8.2, 10, 20, 29.999, 30, 30.5, 36, 40, 700, 710, 800, 1e15, 2e15)
mu_unit <- c(0, 1e-300, 1e-16, eps, 1e-10, 1e-5, 0.001, 0.01, 0.1, 0.25, 0.3, 0.5, 0.7,
             0.75, 0.9, 0.99, 0.999, 1 - 1e-5, 1 - 1e-10, 1 - eps, 1)
mu_pos <- c(1e-300, 1e-10, 0.01, 0.5, 1, 2, 10, 1e5, 1e10, 1e300)
grids <- list(
  logit    = list(eta = eta_unit, mu = mu_unit),
  probit   = list(eta = eta_unit, mu = mu_unit),
  cloglog  = list(eta = eta_unit, mu = mu_unit),
  cauchit  = list(eta = eta_unit, mu = mu_unit),
  log      = list(eta = c(-800, -40, -36.05, -36.04, -36, -10, -1, 0, 1, 10, 100, 700, 709),
                  mu = mu_pos),
  identity = list(eta = c(-1e10, -5, -1, 0, 1, 3.5, 1e10), mu = c(-1e10, -2, 0, 0.5, 1, 1e10)),
  sqrt     = list(eta = c(1e-150, 1e-5, 0.1, 1, 2, 10, 1e5, 1e150), mu = c(0, mu_pos)),
  inverse  = list(eta = c(-1e5, -2, -0.5, 1e-300, 1e-5, 0.5, 1, 2, 1e5), mu = c(-3, mu_pos)),
  `1/mu^2` = list(eta = c(1e-200, 1e-5, 0.1, 1, 2, 10, 1e5, 1e200), mu = mu_pos[-c(1, 10)])
)
valid_eta <- list(c(1, 2), c(0, 1), c(-1, 2), c(1, Inf), c(1, NaN))
links <- list()
for (nm in names(grids)) {
  lk <- make.link(nm)
  g <- grids[[nm]]
  entry <- list(name = lk$name, eta = num(g$eta), linkinv = num(lk$linkinv(g$eta)),
                mu_eta = num(lk$mu.eta(g$eta)), mu = num(g$mu),
                linkfun = num(lk$linkfun(g$mu)),
                valideta = lapply(valid_eta, function(e)
                  list(eta = num(e), ok = isTRUE(lk$valideta(e)))))
  if (nm == "cloglog")  # R's log(-log(1 - mu)) cancels for small mu; the log1p form does not
    entry$linkfun_log1p <- num(log(-log1p(-g$mu)))
  links[[nm]] <- entry
}

## ---- families ------------------------------------------------------------------------
init_mustart <- function(fam, y, weights) {
  nobs <- length(y); etastart <- NULL; start <- NULL; mustart <- NULL; family <- fam
  eval(fam$initialize)
  mustart
}
fam_case <- function(fam, y, mu, wt, scales = numeric(0), logdens = NULL, extra = list()) {
  dr <- fam$dev.resids(y, mu, wt)
  dev <- sum(dr)
  out <- list(family = fam$family, link = fam$link, y = num(y), mu = num(mu), wt = num(wt),
              variance = num(fam$variance(mu)), dev_resids = num(dr),
              aic = num(fam$aic(y, rep(1, length(y)), mu, wt, dev)),
              mustart = tryCatch(num(init_mustart(fam, y, wt)),  # NULL where R stops
                                 error = function(e) NULL))
  if (!is.null(logdens)) {
    out$loglik <- lapply(scales, function(s) list(scale = num(s), loglik = num(logdens(s))))
  }
  c(out, extra)
}

# binomial: y proportions, wt numbers of trials (R's glm convention for a proportion response)
b_wt <- c(1, 1, 1, 1, 5, 5, 5, 5, 10, 10, 20, 3, 1, 1, 7, 2, 40, 40)
b_y  <- c(0, 1, 0, 1, 0, 2/5, 3/5, 1, 1/10, 9/10, 7/20, 1/3, 0, 1, 6/7, 0.5, 0, 1)
b_mu <- c(1e-10, 1 - 1e-10, 0.5, 0.5, 0.2, 0.4, 0.9, 0.999, 0.1, 1e-6, 0.35, 0.6, 0.999999,
          1e-6, 0.3, 0.5, 1e-12, 1 - 1e-12)
b_ll <- function(s) dbinom(round(b_wt * b_y), round(b_wt), b_mu, log = TRUE)

p_y  <- c(0, 0, 0, 1, 2, 3, 5, 10, 100, 1000, 0, 7, 12345)
p_mu <- c(1e-10, 2, 50, 1, 2.5, 3, 0.1, 12, 95, 1000.5, 1e-300, 7, 12000)
p_wt <- c(1, 1, 2, 1, 1, 0.5, 1, 3, 1, 1, 1, 1, 1)

nb_y  <- c(0, 0, 1, 2, 3, 5, 10, 100, 0, 17, 250)
nb_mu <- c(1e-8, 2, 1, 2.5, 3, 0.1, 12, 95, 50, 17, 300)
nb_wt <- c(1, 1, 2, 1, 1, 0.5, 1, 3, 1, 1, 1)

g_y  <- c(0.01, 0.5, 1, 2, 3.3, 10, 100, 1e-5, 1e4)
g_mu <- c(0.02, 0.5, 1.5, 1.9, 3, 20, 50, 1e-4, 9000)
g_wt <- c(1, 1, 2, 1, 0.5, 1, 3, 1, 1)

n_y  <- c(-3, -1, 0, 0.5, 2, 10, 1e3)
n_mu <- c(-2.5, -1, 0.1, 0.4, 2.2, 9, 1001)
n_wt <- c(1, 2, 1, 0.5, 1, 3, 1)

families <- list()
for (lk in c("logit", "probit", "cloglog", "cauchit", "log"))
  families[[length(families) + 1]] <- fam_case(binomial(lk), b_y, b_mu, b_wt, 1, b_ll)
for (lk in c("log", "identity", "sqrt"))
  families[[length(families) + 1]] <- fam_case(poisson(lk), p_y, p_mu, p_wt, 1,
                                               function(s) dpois(p_y, p_mu, log = TRUE) * p_wt)
for (th in c(0.5, 2, 10, 1000)) for (lk in c("log", "identity", "sqrt"))
  families[[length(families) + 1]] <- fam_case(
    negative.binomial(th, link = lk), nb_y, nb_mu, nb_wt, 1,
    function(s) dnbinom(nb_y, size = th, mu = nb_mu, log = TRUE) * nb_wt,
    list(theta = num(th)))
g_disp <- sum(Gamma()$dev.resids(g_y, g_mu, g_wt)) / sum(g_wt)
for (lk in c("inverse", "identity", "log"))
  families[[length(families) + 1]] <- fam_case(
    Gamma(lk), g_y, g_mu, g_wt, c(0.3, 2.5, g_disp),
    function(s) dgamma(g_y, shape = 1 / s, scale = g_mu * s, log = TRUE) * g_wt)
ig_disp <- sum(inverse.gaussian()$dev.resids(g_y, g_mu, g_wt)) / sum(g_wt)
for (lk in c("1/mu^2", "inverse", "identity", "log"))
  families[[length(families) + 1]] <- fam_case(
    inverse.gaussian(lk), g_y, g_mu, g_wt, c(0.3, 2.5, ig_disp),
    function(s) statmod::dinvgauss(g_y, mean = g_mu, dispersion = s, log = TRUE) * g_wt)
n_disp <- sum(gaussian()$dev.resids(n_y, n_mu, n_wt)) / length(n_y)
for (lk in c("identity", "log", "inverse"))
  families[[length(families) + 1]] <- fam_case(
    gaussian(lk), n_y, if (lk == "identity") n_mu else abs(n_mu), n_wt, c(0.3, 2.5, n_disp),
    function(s) dnorm(n_y, if (lk == "identity") n_mu else abs(n_mu), sqrt(s / n_wt), log = TRUE))
# (gaussian()$initialize stops for a log link with y <= 0 or an inverse link with y == 0,
# so those two cases carry no mustart.)

## ---- quasi ---------------------------------------------------------------------------
quasi_cases <- list(
  constant   = list(y = n_y, mu = n_mu, wt = n_wt),
  `mu(1-mu)` = list(y = b_y, mu = b_mu, wt = b_wt),
  mu         = list(y = p_y, mu = p_mu, wt = p_wt),
  `mu^2`     = list(y = c(0, 0, g_y), mu = c(0.5, 3, g_mu), wt = c(1, 2, g_wt)),
  `mu^3`     = list(y = g_y, mu = g_mu, wt = g_wt)
)
quasi_out <- list()
for (v in names(quasi_cases)) {
  d <- quasi_cases[[v]]
  fam <- do.call(quasi, list(link = "identity", variance = v))  # quasi() substitutes its argument
  quasi_out[[v]] <- list(variance_name = fam$varfun, y = num(d$y), mu = num(d$mu),
                         wt = num(d$wt), variance = num(fam$variance(d$mu)),
                         dev_resids = num(fam$dev.resids(d$y, d$mu, d$wt)),
                         mustart = num(init_mustart(fam, d$y, d$wt)))
}

## ---- names and link lists ------------------------------------------------------------
# R's okLinks, as listed in the error for a link that is neither an okLinks name, a string
# nor a link-glm object (R accepts any make.link() name given as a string).
bad_link_message <- function(call) tryCatch({ eval(call); "" },
                                            error = function(e) conditionMessage(e))
ok_links <- list(
  binomial = bad_link_message(quote(binomial(link = sqrt))),
  poisson = bad_link_message(quote(poisson(link = mean))),
  Gamma = bad_link_message(quote(Gamma(link = sqrt))),
  inverse.gaussian = bad_link_message(quote(inverse.gaussian(link = sqrt))),
  gaussian = bad_link_message(quote(gaussian(link = sqrt)))
)
nb_thetas <- c(2, 0.5, 3.27259, 123.45678, 1e6, 12345.67891, 1e-5, 0.000123456, 1234567.1,
               99999999, 0.47977007810473982, 10, 1.23456789)
nb_names <- lapply(nb_thetas, function(th) list(theta = num(th),
                                                 name = negative.binomial(th)$family))
# what lme4's glmer.nb summary prints (example from ?glmer.nb)
set.seed(101)
dd <- expand.grid(f1 = factor(1:3), f2 = LETTERS[1:2], g = 1:9, rep = 1:15,
                  KEEP.OUT.ATTRS = FALSE)
dd$y <- rnbinom(nrow(dd), mu = 5 * (-4 + with(dd, as.integer(f1) + 4 * as.numeric(f2))),
                size = 0.5)
m_nb <- suppressMessages(glmer.nb(y ~ f1 * f2 + (1 | g), data = dd))
family_line <- grep("Family:", capture.output(print(summary(m_nb))), value = TRUE)

out <- list(
  `_source` = paste(R.version.string, "- MASS", as.character(packageVersion("MASS")),
                    "- statmod", as.character(packageVersion("statmod")),
                    "- lme4", as.character(packageVersion("lme4")),
                    "- generated by tests/engines/data/make_family_reference.R"),
  R_version = R.version.string,
  MASS_version = as.character(packageVersion("MASS")),
  lme4_version = as.character(packageVersion("lme4")),
  double_eps = num(eps),
  links = links,
  families = families,
  quasi = quasi_out,
  ok_links_messages = ok_links,
  nb_names = nb_names,
  glmer_nb = list(theta = num(getME(m_nb, "glmer.nb.theta")), family = family(m_nb)$family,
                  summary_family_line = family_line)
)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = 1, null = "null"),
           "tests/engines/data/family_reference.json")
