/*-------------------------------------------------------------------------
 *
 * pareto_nbd.c
 *	  The Pareto/NBD customer-base model (Schmittlein, Morrison & Colombo
 *	  1987; Fader, Hardie & Lee 2005): maximum-likelihood fit, P(alive) and
 *	  expected purchases.
 *
 * A customer buys at rate lambda ~ Gamma(r, alpha) until an unobserved
 * exponential lifetime with rate mu ~ Gamma(s, beta) ends.  Integrating mu
 * by the time tau of death gives the likelihood of (x, t_x, T) as
 *	 L = G(r+x) alpha^r beta^s / G(r)
 *		 * [ (alpha+T)^-(r+x) (beta+T)^-s
 *			 + s Int_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau ]
 * which is the textbook form with its two Gaussian hypergeometric functions
 * written as the integral they stand for.  Those 2F1 series converge slowly
 * when alpha and beta are far apart and cancel when t_x is close to T; the
 * integrand here is smooth, positive and decreasing, so adaptive
 * Gauss-Kronrod quadrature gets it to 1e-12 for every valid input, and the
 * gradient comes from the same panels.  P(alive) is the share of the first
 * term, and the expectations have closed forms (log1p/expm1 keep s = 1
 * regular).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "btyd_model.h"
#include "btyd_predict.h"
#include "customer_groups.h"
#include "optimize.h"
#include "special_functions.h"

#define PNBD_NPARAMS 4

#define QUADRATURE_TOLERANCE 1e-12
#define QUADRATURE_MAX_PANELS 1000

/* Gauss-Kronrod 15-point nodes on [-1, 1] (positive half) and weights */
static const double kronrod_nodes[8] = {
	0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
	0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
	0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
	0.207784955007898467600689403773245, 0.0
};
static const double kronrod_weights[8] = {
	0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
	0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
	0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
	0.204432940075298892414161999234649, 0.209482141084727828012999174891714
};

/* the embedded 7-point Gauss rule uses the odd-numbered Kronrod nodes */
static const double gauss_weights[4] = {
	0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
	0.381830050505118944950369775488975, 0.417959183673469387755102040816327
};

typedef struct PnbdParams
{
	double		r;
	double		alpha;
	double		s;
	double		beta;
} PnbdParams;

/*
 * Int_{t_x}^{T} F(tau) dtau with F = (alpha+tau)^-(r+x) (beta+tau)^-(s+1)
 * divided by F(t_x), its largest value, and the integrals of F times the
 * derivatives of log F: log(alpha+tau), 1/(alpha+tau), log(beta+tau),
 * 1/(beta+tau).
 */
typedef struct DeathIntegrals
{
	double		j;
	double		j_log_alpha;
	double		j_inv_alpha;
	double		j_log_beta;
	double		j_inv_beta;
} DeathIntegrals;

typedef struct Panel
{
	double		lo;
	double		hi;
} Panel;

/* one customer's integrand: the model, (x, t_x), and what every node shares */
typedef struct DeathTerm
{
	const PnbdParams *p;
	double		x;
	double		t_x;
	double		c;				/* min(alpha, beta) */
	double		log_alpha;		/* log(alpha + t_x) */
	double		log_beta;		/* log(beta + t_x) */
} DeathTerm;

/* log(1 + a/b) for a, b >= 0, also where a/b overflows */
static inline double
Log1pRatio(double a, double b)
{
	double		q = a / b;

	return isinf(q) ? log(a) - log(b) : log1p(q);
}

/*
 * Adds w times F(tau)/F(t_x) dtau/dy to the integrals at
 * y = log((c+tau)/(c+t_x)), c = min(alpha, beta); returns that integrand.
 *
 * F(tau)/F(t_x) is taken from the logs of (alpha+tau)/(alpha+t_x) and
 * (beta+tau)/(beta+t_x), which are small, rather than as the difference of
 * log F(tau) and log F(t_x): with r + x in the tens of thousands (as a fit
 * drifting towards no dropout reaches) those are near 10^6 and their
 * difference keeps only ten digits, a noise the adaptive rule would chase
 * down to its panel limit for every customer.
 */
static double
AddNode(const DeathTerm *d, double y, double w, DeathIntegrals *out)
{
	const PnbdParams *p = d->p;
	/* tau - t_x; e^y overflows first where c + t_x is tiny */
	double		step = y < 700.0 ? (d->c + d->t_x) * expm1(y) : exp(y + log(d->c + d->t_x));
	double		tau = d->t_x + step;
	double		rise_a = p->alpha <= p->beta ? y : Log1pRatio(step, p->alpha + d->t_x);
	double		rise_b = p->alpha <= p->beta ? Log1pRatio(step, p->beta + d->t_x) : y;
	double		log_a = d->log_alpha + rise_a;
	double		log_b = d->log_beta + rise_b;
	double		f = exp(-(p->r + d->x) * rise_a - (p->s + 1.0) * rise_b) * (d->c + tau);

	out->j += w * f;
	out->j_log_alpha += w * f * log_a;
	out->j_inv_alpha += w * f / (p->alpha + tau);
	out->j_log_beta += w * f * log_b;
	out->j_inv_beta += w * f / (p->beta + tau);
	return f;
}

/* Kronrod estimates over one panel; returns |Kronrod - Gauss| of j */
static double
KronrodPanel(const DeathTerm *d, double lo, double hi, DeathIntegrals *out)
{
	double		center = 0.5 * (lo + hi);
	double		half = 0.5 * (hi - lo);
	double		gauss = 0.0;

	memset(out, 0, sizeof(*out));
	for (int k = 0; k < 8; k++)
	{
		double		w = half * kronrod_weights[k];
		double		f = AddNode(d, center - half * kronrod_nodes[k], w, out);

		if (k < 7)
			f += AddNode(d, center + half * kronrod_nodes[k], w, out);
		/* Gauss nodes are the odd-numbered ones, the centre (k = 7) included */
		if (k % 2 == 1)
			gauss += half * gauss_weights[k / 2] * f;
	}
	return fabs(out->j - gauss);
}

/*
 * The panels the quadrature starts from, leftmost on top of the stack.  At
 * y = 0 the integrand falls at the rate k0 (the log-derivative of F times
 * the Jacobian); where it falls by far more than e^30 across [0, y_end] (r
 * in the tens of thousands against a small alpha, say), every node of one
 * panel over the whole range would see it underflow to 0, and the integral
 * would be taken for 0.  The range is then cut at 1/k0, 2/k0, 4/k0, ...,
 * at most 40 panels, so that the first one spans the spike.
 */
static void
PushInitialPanels(const DeathTerm *d, double y_end, Panel *stack, int *depth)
{
	const PnbdParams *p = d->p;
	double		k0 = (p->r + d->x) * (d->c + d->t_x) / (p->alpha + d->t_x) +
		(p->s + 1.0) * (d->c + d->t_x) / (p->beta + d->t_x) - 1.0;
	double		edges[41];
	int			n = 0;

	edges[n++] = 0.0;
	if (k0 * y_end > 30.0)
	{
		/*
		 * from 1/k0 by doublings, or by a larger ratio where 39 doublings
		 * would not reach y_end: the first panel must span the spike, or
		 * every node of it underflows and the integral is taken for 0
		 */
		double		span = log2(k0 * y_end);
		double		ratio = span > 39.0 ? exp2(span / 39.0) : 2.0;
		double		y = 1.0 / k0;

		while (y < y_end && n < 40)
		{
			edges[n++] = y;
			y *= ratio;
		}
	}
	edges[n] = y_end;
	for (int i = n - 1; i >= 0; i--)
		stack[(*depth)++] = (Panel) {edges[i], edges[i + 1]};
}

/*
 * Adaptive quadrature over [t_x, T], in y = log((c+tau)/(c+t_x)) with c the
 * smaller of alpha and beta: there the steeper of the two power factors is
 * an exponential and the other one is smooth, so one Kronrod panel usually
 * suffices.  The integrand decreases, so the leftmost panels carry the
 * mass: they are refined first, and a panel is accepted once its error
 * estimate is below the tolerance relative to everything found so far.
 */
static void
DeathIntegral(const DeathTerm *d, double t, DeathIntegrals *total)
{
	Panel		stack[64];
	int			depth = 0;
	int			panels = 0;
	double		y_end;

	memset(total, 0, sizeof(*total));
	if (t <= d->t_x)
		return;
	y_end = Log1pRatio(t - d->t_x, d->c + d->t_x);
	PushInitialPanels(d, y_end, stack, &depth);
	while (depth > 0)
	{
		Panel		panel = stack[--depth];
		DeathIntegrals part;
		double		error = KronrodPanel(d, panel.lo, panel.hi, &part);

		panels++;
		if (error <= QUADRATURE_TOLERANCE * (total->j + part.j) ||
			panels >= QUADRATURE_MAX_PANELS || depth >= 62 ||
			panel.hi - panel.lo <= 1e-12 * y_end)
		{
			total->j += part.j;
			total->j_log_alpha += part.j_log_alpha;
			total->j_inv_alpha += part.j_inv_alpha;
			total->j_log_beta += part.j_log_beta;
			total->j_inv_beta += part.j_inv_beta;
			continue;
		}
		/* push the right half first, so the left one is refined next */
		stack[depth++] = (Panel) {0.5 * (panel.lo + panel.hi), panel.hi};
		stack[depth++] = (Panel) {panel.lo, 0.5 * (panel.lo + panel.hi)};
	}
}

/*
 * The log of the bracket of L, split into its "alive" and "died in
 * (t_x, T]" parts, with the gradient of log L's bracket when asked for.
 * Returns log(alive + died); *p_alive is alive's share.  Both parts are
 * taken relative to F(t_x), for the reason given at AddNode, so the shares
 * are exact even where the logs themselves are huge.
 */
static double
LogBracket(const PnbdParams *p, double x, double t_x, double t, double *p_alive,
		   double *gradient)
{
	DeathTerm	term = {p, x, t_x, Min(p->alpha, p->beta), log(p->alpha + t_x), log(p->beta + t_x)};
	double		log_f0 = -(p->r + x) * term.log_alpha - (p->s + 1.0) * term.log_beta;
	double		alive = -(p->r + x) * Log1pRatio(t - t_x, p->alpha + t_x)
		- p->s * Log1pRatio(t - t_x, p->beta + t_x) + term.log_beta;
	DeathIntegrals d;
	double		died;
	double		lse;
	double		share_alive;
	double		share_died;

	DeathIntegral(&term, t, &d);
	died = d.j > 0.0 ? log(p->s) + log(d.j) : -INFINITY;
	lse = LogAddExp(alive, died);
	share_alive = exp(alive - lse);
	share_died = d.j > 0.0 ? exp(died - lse) : 0.0;
	if (p_alive)
		*p_alive = share_alive;
	if (gradient)
	{
		gradient[0] = -share_alive * log(p->alpha + t);
		gradient[1] = -share_alive * (p->r + x) / (p->alpha + t);
		gradient[2] = -share_alive * log(p->beta + t);
		gradient[3] = -share_alive * p->s / (p->beta + t);
		if (share_died > 0.0)
		{
			gradient[0] -= share_died * d.j_log_alpha / d.j;
			gradient[1] -= share_died * (p->r + x) * d.j_inv_alpha / d.j;
			gradient[2] += share_died * (1.0 / p->s - d.j_log_beta / d.j);
			gradient[3] -= share_died * (p->s + 1.0) * d.j_inv_beta / d.j;
		}
	}
	return log_f0 + lse;
}

typedef struct PnbdData
{
	int			npoints;
	const double *rows;			/* x, t_x, T, count */
	int			nx;
	double	   *x_value;
	double	   *x_count;
	double		total;
} PnbdData;

/* Negative mean log-likelihood and its gradient in log-parameters. */
static double
PnbdObjective(const double *theta, double *gradient, void *arg)
{
	const PnbdData *d = arg;
	PnbdParams	p = {exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3])};
	double		ll = 0.0;
	double		g[PNBD_NPARAMS] = {0.0, 0.0, 0.0, 0.0};
	double		lgamma_r = lgamma(p.r);
	double		psi_r = Digamma(p.r);
	double		log_alpha = log(p.alpha);
	double		log_beta = log(p.beta);

	CHECK_FOR_INTERRUPTS();

	for (int k = 0; k < d->nx; k++)
	{
		double		x = d->x_value[k];
		double		w = d->x_count[k];

		ll += w * (lgamma(p.r + x) - lgamma_r + p.r * log_alpha + p.s * log_beta);
		g[0] += w * (Digamma(p.r + x) - psi_r + log_alpha);
		g[1] += w * p.r / p.alpha;
		g[2] += w * log_beta;
		g[3] += w * p.s / p.beta;
	}

	for (int i = 0; i < d->npoints; i++)
	{
		const double *row = d->rows + 4 * i;
		double		gi[PNBD_NPARAMS];

		/*
		 * Each group costs an adaptive quadrature, so one evaluation over
		 * many distinct groups can take seconds: check here, not only once
		 * per evaluation.
		 */
		CHECK_FOR_INTERRUPTS();
		ll += row[3] * LogBracket(&p, row[0], row[1], row[2], NULL, gi);
		for (int j = 0; j < PNBD_NPARAMS; j++)
			g[j] += row[3] * gi[j];
	}

	return BtydObjectiveValue(ll, g, theta, PNBD_NPARAMS, d->total, gradient);
}

/* Final of pareto_nbd_fit: the maximum-likelihood model, NULL for too few customers. */
PG_FUNCTION_INFO_V1(pareto_nbd_fit_finalfn);
Datum
pareto_nbd_fit_finalfn(PG_FUNCTION_ARGS)
{
	double	   *rows;
	PnbdData	data;
	double		theta[PNBD_NPARAMS] = {0.0, 0.0, 0.0, 0.0};

	data.npoints = BtydFitRows(fcinfo, BTYD_PARETO_NBD, "customers", &rows, &data.total);
	if (data.npoints < 0)
		PG_RETURN_NULL();
	data.rows = rows;
	/* rows come sorted by x, so each x is one run */
	data.nx = CustomerRowsFirstKeyRuns(rows, data.npoints, 4, &data.x_value, &data.x_count);
	PG_RETURN_POINTER(BtydFit(BTYD_PARETO_NBD, PnbdObjective, &data, theta, data.total));
}

static PnbdParams
ModelParams(const BtydModel *model)
{
	return (PnbdParams) {model->params[0], model->params[1], model->params[2], model->params[3]};
}

/* [1 - (scale/(scale+h))^(s-1)] / (s-1), regular at s = 1 */
static double
LifetimeFactor(double s, double scale, double horizon)
{
	double		l = log1p(horizon / scale);

	return l * Expm1Ratio(-(s - 1.0) * l);
}

static double
PnbdPAlive(const BtydModel *model, double x, double t_x, double t)
{
	PnbdParams	p = ModelParams(model);
	double		p_alive;

	(void) LogBracket(&p, x, t_x, t, &p_alive, NULL);
	return p_alive;
}

static double
PnbdExpected(const BtydModel *model, double horizon, double x, double t_x, double t)
{
	PnbdParams	p = ModelParams(model);

	/* alive at T: lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T) */
	return PnbdPAlive(model, x, t_x, t) * (p.r + x) / (p.alpha + t) * (p.beta + t)
		* LifetimeFactor(p.s, p.beta + t, horizon);
}

/* PnbdExpected of a new customer (x = t_x = T = 0), in closed form */
static double
PnbdExpectedNew(const BtydModel *model, double horizon, double x, double t_x, double t)
{
	PnbdParams	p = ModelParams(model);

	Assert(x == 0.0 && t_x == 0.0 && t == 0.0);
	return p.r / p.alpha * p.beta * LifetimeFactor(p.s, p.beta, horizon);
}

/* the SQL functions of P(alive) and expected purchases under Pareto/NBD */
BTYD_PREDICTION_FUNCTIONS(pareto_nbd, BTYD_PARETO_NBD, PnbdPAlive, PnbdExpected, PnbdExpectedNew);
