/*-------------------------------------------------------------------------
 *
 * customer_groups.c
 *	  Customers sharing a summary, collapsed into counted groups (see the
 *	  header), kept in a simplehash table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"

#include "customer_groups.h"

typedef struct GroupKey
{
	double		v[CUSTOMER_GROUPS_MAX_DIMS];	/* unused dimensions are 0 */
} GroupKey;

typedef struct GroupEntry
{
	GroupKey	key;
	double		count;
	uint32		hash;
	char		status;
} GroupEntry;

static inline uint32
HashGroupKey(const GroupKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(GroupKey));
}

#define SH_PREFIX groups
#define SH_ELEMENT_TYPE GroupEntry
#define SH_KEY_TYPE GroupKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) HashGroupKey(&(k))
#define SH_EQUAL(tb, a, b) (memcmp(&(a), &(b), sizeof(GroupKey)) == 0)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

struct CustomerGroups
{
	int			ndims;
	double		total;			/* sum of the counts */
	groups_hash *hash;
};

/* header of the serialised form: ndims, ngroups */
#define GROUPS_SERIAL_HEADER (2 * sizeof(int32))

CustomerGroups *
CustomerGroupsCreate(MemoryContext context, int ndims)
{
	CustomerGroups *groups = MemoryContextAllocZero(context, sizeof(CustomerGroups));

	Assert(ndims > 0 && ndims <= CUSTOMER_GROUPS_MAX_DIMS);
	groups->ndims = ndims;
	groups->hash = groups_create(context, 256, NULL);
	return groups;
}

void
CustomerGroupsAdd(CustomerGroups *groups, const double *key, double count)
{
	GroupKey	k;
	GroupEntry *entry;
	bool		found;

	memset(&k, 0, sizeof(k));
	for (int i = 0; i < groups->ndims; i++)
		k.v[i] = key[i] == 0.0 ? 0.0 : key[i];	/* -0 and 0 are one group */
	entry = groups_insert(groups->hash, k, &found);
	entry->count = found ? entry->count + count : count;
	groups->total += count;
}

void
CustomerGroupsMerge(CustomerGroups *into, const CustomerGroups *from)
{
	groups_iterator it;
	GroupEntry *entry;

	Assert(into->ndims == from->ndims);
	groups_start_iterate(from->hash, &it);
	while ((entry = groups_iterate(from->hash, &it)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		CustomerGroupsAdd(into, entry->key.v, entry->count);
	}
}

CustomerGroups *
CustomerGroupsCopy(MemoryContext context, const CustomerGroups *from)
{
	CustomerGroups *copy = CustomerGroupsCreate(context, from->ndims);

	CustomerGroupsMerge(copy, from);
	return copy;
}

double
CustomerGroupsTotal(const CustomerGroups *groups)
{
	return groups->total;
}

bytea *
CustomerGroupsSerialize(const CustomerGroups *groups)
{
	StringInfoData buf;
	groups_iterator it;
	GroupEntry *entry;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, groups->ndims);
	pq_sendint32(&buf, groups->hash->members);
	groups_start_iterate(groups->hash, &it);
	while ((entry = groups_iterate(groups->hash, &it)) != NULL)
	{
		for (int i = 0; i < groups->ndims; i++)
			pq_sendfloat8(&buf, entry->key.v[i]);
		pq_sendfloat8(&buf, entry->count);
	}
	return pq_endtypsend(&buf);
}

CustomerGroups *
CustomerGroupsDeserialize(MemoryContext context, bytea *bytes, int ndims)
{
	Size		len = VARSIZE_ANY_EXHDR(bytes);
	StringInfoData buf;
	CustomerGroups *groups;
	int32		ngroups;
	double		total = 0.0;

	if (len < GROUPS_SERIAL_HEADER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customer groups state has %zu bytes, expected at least %zu",
						len, (Size) GROUPS_SERIAL_HEADER)));
	/* read in place: the bytes outlive this function */
	buf.data = VARDATA_ANY(bytes);
	buf.len = len;
	buf.maxlen = len;
	buf.cursor = 0;
	if (pq_getmsgint(&buf, 4) != ndims)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customer groups state has the wrong number of dimensions")));
	ngroups = pq_getmsgint(&buf, 4);
	if (ngroups < 0 ||
		len != GROUPS_SERIAL_HEADER + (Size) ngroups * (ndims + 1) * sizeof(float8))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customer groups state says %d groups but holds %zu bytes", ngroups, len)));

	groups = CustomerGroupsCreate(context, ndims);
	for (int32 g = 0; g < ngroups; g++)
	{
		double		key[CUSTOMER_GROUPS_MAX_DIMS];
		double		count;

		for (int i = 0; i < ndims; i++)
		{
			key[i] = pq_getmsgfloat8(&buf);
			/* what the transition functions accept: finite, not negative */
			if (!(key[i] >= 0.0 && key[i] < INFINITY))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("customer groups state holds value %g in group %d", key[i], g)));
		}
		count = pq_getmsgfloat8(&buf);
		/* counts or weights, as the transitions take them; finite in total too */
		total += count;
		if (!(count > 0.0 && count < INFINITY && total < INFINITY))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("customer groups state holds count %g in group %d", count, g)));
		CustomerGroupsAdd(groups, key, count);
	}
	return groups;
}

static int	sort_ndims;

static int
CompareRows(const void *a, const void *b)
{
	const double *x = a;
	const double *y = b;

	for (int i = 0; i < sort_ndims; i++)
	{
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

int
CustomerGroupsToRows(const CustomerGroups *groups, double **rows)
{
	int			width = groups->ndims + 1;
	int			n = 0;
	double	   *out;
	groups_iterator it;
	GroupEntry *entry;

	out = palloc(sizeof(double) * width * Max(groups->hash->members, 1));
	groups_start_iterate(groups->hash, &it);
	while ((entry = groups_iterate(groups->hash, &it)) != NULL)
	{
		memcpy(out + (Size) n * width, entry->key.v, sizeof(double) * groups->ndims);
		out[(Size) n * width + groups->ndims] = entry->count;
		n++;
	}
	sort_ndims = groups->ndims;
	qsort(out, n, sizeof(double) * width, CompareRows);
	*rows = out;
	return n;
}

double
CustomerCountArgument(FunctionCallInfo fcinfo, int argno)
{
	int64		customers;

	if (PG_NARGS() <= argno)
		return 1.0;
	customers = PG_GETARG_INT64(argno);
	if (customers < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customers must not be negative, not " INT64_FORMAT, customers)));
	return (double) customers;
}

int
CustomerRowsFirstKeyRuns(const double *rows, int nrows, int width, double **value,
						 double **count)
{
	int			nruns = 0;

	*value = palloc(sizeof(double) * Max(nrows, 1));
	*count = palloc(sizeof(double) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
	{
		const double *row = rows + (Size) i * width;

		if (nruns == 0 || (*value)[nruns - 1] != row[0])
		{
			(*value)[nruns] = row[0];
			(*count)[nruns++] = 0.0;
		}
		(*count)[nruns - 1] += row[width - 1];
	}
	return nruns;
}

CustomerGroups *
CustomerGroupsStateArg(FunctionCallInfo fcinfo)
{
	return PG_ARGISNULL(0) ? NULL : (CustomerGroups *) PG_GETARG_POINTER(0);
}

CustomerGroups *
CustomerGroupsTransitionState(FunctionCallInfo fcinfo, const char *fname, int ndims)
{
	MemoryContext context = AggregateContext(fcinfo, fname);
	CustomerGroups *groups = CustomerGroupsStateArg(fcinfo);

	if (groups == NULL)
		groups = CustomerGroupsCreate(context, ndims);
	return groups;
}

bool
CustomerRowHasNull(FunctionCallInfo fcinfo, int nkeys)
{
	for (int i = 1; i <= nkeys; i++)
	{
		if (PG_ARGISNULL(i))
			return true;
	}
	return PG_NARGS() > nkeys + 1 && PG_ARGISNULL(nkeys + 1);
}

Datum
CustomerGroupsTransition(FunctionCallInfo fcinfo, const char *fname, int nkeys,
						 CustomerRowKey row_key)
{
	CustomerGroups *groups = CustomerGroupsTransitionState(fcinfo, fname, nkeys);
	double		key[CUSTOMER_GROUPS_MAX_DIMS];
	double		count;

	Assert(nkeys <= CUSTOMER_GROUPS_MAX_DIMS);
	if (CustomerRowHasNull(fcinfo, nkeys) || !row_key(fcinfo, key))
		PG_RETURN_POINTER(groups);
	count = CustomerCountArgument(fcinfo, nkeys + 1);
	if (count > 0.0)
		CustomerGroupsAdd(groups, key, count);
	PG_RETURN_POINTER(groups);
}

Datum
CustomerGroupsDeserializeChecked(FunctionCallInfo fcinfo, const char *fname, int ndims,
								 CustomerRowCheck check_row)
{
	MemoryContext context = AggregateContext(fcinfo, fname);
	CustomerGroups *groups = CustomerGroupsDeserialize(context, PG_GETARG_BYTEA_PP(0), ndims);

	/* the keys of a hostile state must be keys the transition could make */
	if (check_row != NULL)
	{
		double	   *rows;
		int			n = CustomerGroupsToRows(groups, &rows);

		for (int i = 0; i < n; i++)
			check_row(rows + (Size) i * (ndims + 1));
		pfree(rows);
	}
	PG_RETURN_POINTER(groups);
}
