# brms/Stan peer of the vp_bayes item model (issue #4): an ordinal mixed model with
# item-specific slopes on the ten standardised value scores and person intercepts.
#
#   rating ~ 1 + <values> + (1 + <values> || item) + (1 | participant),
#   family = cumulative("logit"), backend = "rstan"
#
# Usage (normally called by benchmarks/brms_peer.py, which writes the CSV):
#   Rscript benchmarks/brms_peer.R --csv ratings.csv --out result.json \
#       --chains 2 --iter 2000 --warmup 1000 --seed 1
#
# The CSV has columns participant, item, rating (1..6) and the ten value columns
# (vp_bayes.dims.VALUES_10 names, already standardised).
#
# Timing: the model is compiled by brm(chains = 0) (compile_s, wall clock of that call) and
# sampled by update() without recompiling. sampling_s = max over chains of rstan's
# warmup + sampling time (the wall of parallel chains on free cores; NB rstan 2.21 / Stan
# 2.21 time chains with clock(), i.e. CPU time of the chain's process, so on a busy machine
# it is less than the wall clock: sample_wall_s is the wall clock of the update() call);
# wall_s = wall clock of both brm() calls (compile + sample + brms overhead). grad_ms =
# post-warmup CPU time per leapfrog step (gradient). Install: apt-get install r-cran-brms.

suppressPackageStartupMessages({
  library(brms)
  library(posterior)
})

VALUES <- c("self_direction", "stimulation", "hedonism", "achievement", "power",
            "security", "conformity", "tradition", "benevolence", "universalism")

parse_args <- function(args) {
  opts <- list(chains = "2", iter = "2000", warmup = "1000", seed = "1")
  i <- 1
  while (i <= length(args)) {
    key <- sub("^--", "", args[[i]])
    if (i == length(args)) stop("option --", key, " needs a value")
    opts[[key]] <- args[[i + 1]]
    i <- i + 2
  }
  for (key in c("csv", "out")) {
    if (is.null(opts[[key]])) stop("missing --", key)
  }
  opts
}

read_ratings <- function(path) {
  d <- read.csv(path, stringsAsFactors = FALSE,
                colClasses = c(participant = "character", item = "character"))
  missing <- setdiff(c("participant", "item", "rating", VALUES), names(d))
  if (length(missing) > 0) stop(path, ": missing columns ", paste(missing, collapse = ", "))
  d$rating <- as.integer(d$rating)
  d$participant <- factor(d$participant)
  d$item <- factor(d$item)
  d
}

peer_formula <- function() {
  rhs <- paste(VALUES, collapse = " + ")
  bf(as.formula(sprintf("rating ~ 1 + %s + (1 + %s || item) + (1 | participant)", rhs, rhs)))
}

# Priors close to vp_bayes' (vp_bayes/model/build.py): normal(0, 0.5) on the mean loadings,
# half-normal(0.5) on the per-value SDs of the item loadings, half-normal(1) on the SD of the
# item locations and of the person intercepts (brms bounds every sd at 0, so normal = half-
# normal), normal(0, 2) on the thresholds (ours: first cutpoint normal(-2, 2) + log gaps).
peer_priors <- function() {
  c(prior(normal(0, 0.5), class = b),
    prior(normal(0, 2), class = Intercept),
    prior(normal(0, 0.5), class = sd, group = item),
    prior(normal(0, 1), class = sd, group = item, coef = Intercept),
    prior(normal(0, 1), class = sd, group = participant))
}

item_summary <- function(fit) {
  draws <- as_draws_array(fit, variable = c("^b_", "^sd_item__", "^r_item\\["), regex = TRUE)
  s <- summarise_draws(draws, ess_bulk, rhat)
  list(ess_bulk_min = min(s$ess_bulk), r_hat_max = max(s$rhat), n_params = nrow(s),
       ess_bulk_min_param = s$variable[which.min(s$ess_bulk)],
       r_hat_max_param = s$variable[which.max(s$rhat)])
}

# Debian's r-cran-bh ships no headers (it depends on libboost-dev instead), so rstan stops
# with "Boost not found". Point rstan at the system Boost through a directory holding only a
# `boost` link (passing /usr/include itself as an include path can break #include_next).
use_system_boost <- function() {
  if (nzchar(system.file("include", package = "BH"))) return(invisible())
  if (!dir.exists("/usr/include/boost")) {
    stop("Boost headers not found: apt-get install libboost-dev")
  }
  dir <- file.path(tempdir(), "boost_include")
  dir.create(dir, showWarnings = FALSE)
  file.symlink("/usr/include/boost", file.path(dir, "boost"))
  rstan::rstan_options(boost_lib = dir)
}

main <- function() {
  opts <- parse_args(commandArgs(trailingOnly = TRUE))
  use_system_boost()
  chains <- as.integer(opts$chains)
  iter <- as.integer(opts$iter)
  warmup <- as.integer(opts$warmup)
  seed <- as.integer(opts$seed)
  d <- read_ratings(opts$csv)
  message(sprintf("%d ratings, %d items, %d participants", nrow(d), nlevels(d$item),
                  nlevels(d$participant)))

  t0 <- Sys.time()
  fit0 <- brm(peer_formula(), data = d, family = cumulative("logit"),
              prior = peer_priors(), backend = "rstan", chains = 0, seed = seed)
  compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  message(sprintf("compiled in %.1f s", compile_s))

  t1 <- Sys.time()
  message("sampling starts")
  fit <- update(fit0, recompile = FALSE, chains = chains, cores = chains, iter = iter,
                warmup = warmup, seed = seed, refresh = max(1, iter %/% 10))
  sample_wall_s <- as.numeric(difftime(Sys.time(), t1, units = "secs"))

  elapsed <- rstan::get_elapsed_time(fit$fit)  # chains x (warmup, sample), seconds
  sampling_s <- max(rowSums(elapsed))
  np <- nuts_params(fit)  # post-warmup iterations only
  message(sprintf("sampled in %.1f s (update() wall clock)", sample_wall_s))
  divergences <- sum(np$Value[np$Parameter == "divergent__"])
  leapfrog <- sum(np$Value[np$Parameter == "n_leapfrog__"])
  summ <- item_summary(fit)

  res <- list(compile_s = compile_s, sampling_s = sampling_s,
              wall_s = compile_s + sample_wall_s, sample_wall_s = sample_wall_s,
              ess_bulk_min_items = summ$ess_bulk_min, r_hat_max_items = summ$r_hat_max,
              ess_bulk_min_param = summ$ess_bulk_min_param,
              r_hat_max_param = summ$r_hat_max_param,
              n_item_params = summ$n_params, divergences = divergences,
              n_leapfrog_sampling = leapfrog,
              grad_ms = 1000 * sum(elapsed[, "sample"]) / leapfrog,
              treedepth_max = max(np$Value[np$Parameter == "treedepth__"]),
              sample_start_unix = as.numeric(t1),
              n_obs = nrow(d), n_items = nlevels(d$item),
              n_participants = nlevels(d$participant), chains = chains,
              draws = iter - warmup, warmup = warmup, seed = seed,
              brms = as.character(packageVersion("brms")),
              rstan = as.character(packageVersion("rstan")))
  jsonlite::write_json(res, opts$out, auto_unbox = TRUE, digits = NA, pretty = TRUE)
  message("wrote ", opts$out)
}

main()
