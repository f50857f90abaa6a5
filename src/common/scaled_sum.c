/*-------------------------------------------------------------------------
 *
 * scaled_sum.c
 *	  Exact sums of numeric values as scaled 128-bit integers (scaled_sum.h).
 *
 * The digits of a numeric are read from its on-disk form: a 16-bit header
 * (short form: sign, display scale and weight; long form: sign and display
 * scale, then a 16-bit weight) and base-10000 digits, the first of weight
 * "weight".  That format is fixed by pg_upgrade compatibility; anything
 * this reader does not expect (NaN, infinities, a digit out of range) it
 * leaves to numeric arithmetic.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "scaled_sum.h"

#define NUM_SIGN_MASK		0xC000
#define NUM_NEG				0x4000
#define NUM_SHORT			0x8000
#define NUM_SPECIAL			0xC000
#define NUM_SHORT_SIGN		0x2000
#define NUM_SHORT_DSCALE	0x1F80
#define NUM_SHORT_DSCALE_SHIFT 7
#define NUM_SHORT_WEIGHT_SIGN 0x0040
#define NUM_SHORT_WEIGHT	0x003F
#define NUM_DSCALE			0x3FFF

#ifdef HAVE_INT128
typedef int128 ScaledInt;
#else
typedef int64 ScaledInt;
#endif

static const int64 pow10_int[SCALED_MAX_SCALE + 1] = {
	INT64CONST(1), INT64CONST(10), INT64CONST(100), INT64CONST(1000), INT64CONST(10000),
	INT64CONST(100000), INT64CONST(1000000), INT64CONST(10000000), INT64CONST(100000000),
	INT64CONST(1000000000), INT64CONST(10000000000), INT64CONST(100000000000),
	INT64CONST(1000000000000), INT64CONST(10000000000000), INT64CONST(100000000000000),
	INT64CONST(1000000000000000), INT64CONST(10000000000000000),
	INT64CONST(100000000000000000), INT64CONST(1000000000000000000)
};

/* the digits of num after its headers, the sign, weight and display scale */
static bool
NumericParts(const char *p, Size len, bool *neg, int *weight, int *dscale,
			 const char **digits, int *ndigits)
{
	uint16		head;

	if (len < sizeof(uint16))
		return false;
	memcpy(&head, p, sizeof(uint16));
	if ((head & NUM_SIGN_MASK) == NUM_SPECIAL)
		return false;
	if ((head & NUM_SIGN_MASK) == NUM_SHORT)
	{
		*neg = (head & NUM_SHORT_SIGN) != 0;
		*dscale = (head & NUM_SHORT_DSCALE) >> NUM_SHORT_DSCALE_SHIFT;
		*weight = (head & NUM_SHORT_WEIGHT_SIGN) ? (int) (~NUM_SHORT_WEIGHT | (head & NUM_SHORT_WEIGHT))
			: (int) (head & NUM_SHORT_WEIGHT);
		*digits = p + sizeof(uint16);
		*ndigits = (len - sizeof(uint16)) / sizeof(int16);
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			return false;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		*neg = (head & NUM_SIGN_MASK) == NUM_NEG;
		*dscale = head & NUM_DSCALE;
		*weight = w;
		*digits = p + 2 * sizeof(uint16);
		*ndigits = (len - 2 * sizeof(uint16)) / sizeof(int16);
	}
	return true;
}

bool
NumericToScaled(Datum num, int64 *mantissa, int32 *scale)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(num);
	bool		neg;
	int			weight;
	int			dscale;
	const char *digits;
	int			ndigits;
	int64		m = 0;
	bool		ok;

	ok = NumericParts(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), &neg, &weight, &dscale, &digits, &ndigits) &&
		dscale <= SCALED_MAX_SCALE;
	for (int i = 0; ok && i < ndigits; i++)
	{
		int16		d;
		int			e = 4 * (weight - i) + dscale;	/* digit i times 10^e */
		int64		term;

		memcpy(&d, digits + i * sizeof(int16), sizeof(int16));
		if (d < 0 || d >= 10000)
			ok = false;
		else if (d == 0)
			continue;
		else if (e < 0)
		{
			/* digits past the display scale are zeros */
			ok = e > -4 && d % pow10_int[-e] == 0;
			m += ok ? d / pow10_int[-e] : 0;
		}
		else
			ok = e <= SCALED_MAX_SCALE &&
				!pg_mul_s64_overflow(d, pow10_int[e], &term) &&
				!pg_add_s64_overflow(m, term, &m);
	}
	if ((Pointer) v != DatumGetPointer(num))
		pfree(v);
	if (!ok)
		return false;
	*mantissa = neg ? -m : m;
	*scale = dscale;
	return true;
}

/* x * 10^k, false on overflow */
static bool
Rescale(ScaledInt x, int k, ScaledInt *result)
{
#ifdef HAVE__BUILTIN_OP_OVERFLOW
	return !__builtin_mul_overflow(x, (ScaledInt) pow10_int[k], result);
#else
	return false;
#endif
}

static bool
AddScaled(ScaledSum *a, ScaledInt b, int32 scale)
{
	ScaledInt	x = a->sum;
	ScaledInt	y = b;

	if (scale > a->scale)
	{
		if (!Rescale(x, scale - a->scale, &x))
			return false;
	}
	else if (!Rescale(y, a->scale - scale, &y))
		return false;
#ifdef HAVE__BUILTIN_OP_OVERFLOW
	if (__builtin_add_overflow(x, y, &x))
		return false;
#else
	return false;
#endif
	a->sum = x;
	a->scale = Max(a->scale, scale);
	return true;
}

bool
ScaledAdd(ScaledSum *sum, int64 mantissa, int32 scale)
{
	return AddScaled(sum, mantissa, scale);
}

bool
ScaledAddSum(ScaledSum *a, const ScaledSum *b)
{
	return AddScaled(a, b->sum, b->scale);
}

/* the decimal text of the sum, e.g. "-12.50" */
static char *
ScaledText(const ScaledSum *sum)
{
	char		buf[64];
	char	   *p = buf + sizeof(buf) - 1;
	ScaledInt	x = sum->sum;
	bool		neg = x < 0;
	int			n = 0;

	*p = '\0';
	do
	{
		int			d = (int) (x % 10);

		*--p = '0' + (neg ? -d : d);
		x /= 10;
		if (++n == sum->scale)
			*--p = '.';
	} while (x != 0 || n <= sum->scale);
	if (*p == '.')
		*--p = '0';
	if (neg)
		*--p = '-';
	return pstrdup(p);
}

double
ScaledToDouble(const ScaledSum *sum)
{
	char	   *text;
	double		result;

	/*
	 * An integer of at most 53 bits divided by an exact power of ten is
	 * correctly rounded, as strtod of the decimal text (numeric_float8) is.
	 */
	if (sum->sum >= -(INT64CONST(1) << 53) && sum->sum <= (INT64CONST(1) << 53))
		return (double) (int64) sum->sum / (double) pow10_int[sum->scale];
	text = ScaledText(sum);
	result = DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(text)));
	pfree(text);
	return result;
}

Numeric
ScaledToNumeric(const ScaledSum *sum)
{
	char	   *text = ScaledText(sum);
	Numeric		result;

	result = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
												 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	pfree(text);
	return result;
}
