/* jitson--0.1--0.2.sql: Tanimoto similarity and pgvector's Jaccard distance <%> */

\echo Use "ALTER EXTENSION jitson UPDATE TO '0.2'" to load this file. \quit

-- One hit of a Tanimoto top-k search: the row's id, its similarity
-- T = intersection / union_bits (1 when union_bits = 0), and the two counts
-- (exact integers, so T can be recomputed or compared without rounding).
CREATE TYPE jitson_tanimoto_hit AS (id bigint, similarity float8, intersection integer,
									union_bits integer);

-- ---------------------------------------------------------------------
-- Similarities.  jitson_tanimoto(a, b) = |a & b| / |a | b|, 1 for two values
-- with no bit set.  With a config: the config's focus mask applies to both
-- counts, "metric": "tanimoto" is filled in (a Hamming config is an error)
-- and min_similarity is checked but ignored: the similarity is always
-- returned.  Values of different lengths are an error.
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_tanimoto(a bit varying, b bit varying)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_tanimoto_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_tanimoto(a bit varying, b bit varying, config jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_tanimoto_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_tanimoto(a bytea, b bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_tanimoto_bytes'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_tanimoto(a bytea, b bytea, config jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_tanimoto_bytes'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- pgvector's <%> (jaccard_distance) on bit: 1 - T, evaluated as pgvector
-- evaluates it, so the two give the same float8 for the same values, with
-- one exception: two values with no bit set are at distance 0 here (T = 1)
-- and 1 in pgvector.  ORDER BY v <%> q LIMIT k orders rows as pgvector does
-- (similarity descending).  Ties: equal distances are equal similarities
-- (distinct fractions never round to the same float8), and neither
-- operator orders rows of equal distance; jitson's top-k functions break
-- ties by id ascending, so ORDER BY v <%> q, id LIMIT k gives exactly
-- jitson_topk_tanimoto's rows in its order.  A threshold T >= t is
-- v <%> q <= 1 - t in float8, exactly so for t >= 0.5 (min_similarity
-- compares the decimal exactly for any t).  Like <~>, <%> is declared on
-- bit varying (bit(n) values coerce to it) and bytea, not on bit:
-- pgvector's <%>(bit, bit) can live in the same schema (then bit(n)
-- operands take pgvector's, the same float8 but for the empty case).
CREATE FUNCTION jitson_jaccard_distance(a bit varying, b bit varying)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_jaccard_distance_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_jaccard_distance(a bytea, b bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_jaccard_distance_bytes'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <%> (
	LEFTARG = bit varying,
	RIGHTARG = bit varying,
	FUNCTION = jitson_jaccard_distance,
	COMMUTATOR = <%>
);

CREATE OPERATOR <%> (
	LEFTARG = bytea,
	RIGHTARG = bytea,
	FUNCTION = jitson_jaccard_distance,
	COMMUTATOR = <%>
);

-- ---------------------------------------------------------------------
-- jitson_topk_tanimoto: jitson_topk for Tanimoto configs, the same scan
-- (caller's snapshot, pages read in place, the TOAST pass, filter and RLS
-- through SPI, cancellation between chunks).  Returns the config's top_k
-- hits ordered by similarity descending, then id ascending (equal
-- similarities are equal fractions: 1/2 ties with 2/4); with min_similarity
-- in the config only rows with T >= min_similarity, the threshold read as
-- the exact decimal it is written as.  "metric": "tanimoto" is filled in;
-- a Hamming config (metric "hamming", or max_distance) is an error naming
-- jitson_topk, which in turn refuses Tanimoto configs.
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_topk_tanimoto(config jsonb, query bit varying, tbl regclass, col name,
									 id_col name DEFAULT NULL, filter text DEFAULT NULL)
RETURNS TABLE (id bigint, similarity float8, intersection integer, union_bits integer)
AS 'MODULE_PATHNAME', 'jitson_topk_tanimoto_bits'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION jitson_topk_tanimoto(config jsonb, query bytea, tbl regclass, col name,
									 id_col name DEFAULT NULL, filter text DEFAULT NULL)
RETURNS TABLE (id bigint, similarity float8, intersection integer, union_bits integer)
AS 'MODULE_PATHNAME', 'jitson_topk_tanimoto_bytes'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

-- ---------------------------------------------------------------------
-- jitson_topk_tanimoto_agg(value, query, config, id) -> jitson_tanimoto_hit[]
-- (best first): jitson_topk_agg for Tanimoto configs, sharing its combine,
-- serialize and deserialize functions (parallel workers, GROUP BY).
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_topk_tanimoto_agg_trans(internal, bit varying, bit varying, jsonb, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'jitson_topk_tanimoto_agg_trans_bits'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION jitson_topk_tanimoto_agg_trans(internal, bytea, bytea, jsonb, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'jitson_topk_tanimoto_agg_trans_bytes'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION jitson_topk_tanimoto_agg_final(internal)
RETURNS jitson_tanimoto_hit[]
AS 'MODULE_PATHNAME', 'jitson_topk_tanimoto_agg_final'
LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE jitson_topk_tanimoto_agg(bit varying, bit varying, jsonb, bigint) (
	SFUNC = jitson_topk_tanimoto_agg_trans,
	STYPE = internal,
	FINALFUNC = jitson_topk_tanimoto_agg_final,
	FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = jitson_topk_agg_combine,
	SERIALFUNC = jitson_topk_agg_serialize,
	DESERIALFUNC = jitson_topk_agg_deserialize,
	PARALLEL = SAFE
);

CREATE AGGREGATE jitson_topk_tanimoto_agg(bytea, bytea, jsonb, bigint) (
	SFUNC = jitson_topk_tanimoto_agg_trans,
	STYPE = internal,
	FINALFUNC = jitson_topk_tanimoto_agg_final,
	FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = jitson_topk_agg_combine,
	SERIALFUNC = jitson_topk_agg_serialize,
	DESERIALFUNC = jitson_topk_agg_deserialize,
	PARALLEL = SAFE
);
