/* jitson--0.2.sql: exact Hamming and Tanimoto search over bit, bit varying and bytea
 * (0.1 plus jitson--0.1--0.2.sql: a fresh install and an updated 0.1 hold the same objects) */

\echo Use "CREATE EXTENSION jitson" to load this file. \quit

-- One hit of a top-k search: the row's id and its (masked) Hamming distance.
CREATE TYPE jitson_hit AS (id bigint, distance integer);

-- ---------------------------------------------------------------------
-- Distances.  Without a config: the plain Hamming distance.  With one:
-- the config's focus mask applies (max_distance is checked but ignored: the
-- distance is always returned; a Tanimoto config is an error naming
-- jitson_tanimoto).  Values of different lengths are an error.
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_distance(a bit varying, b bit varying)
RETURNS integer
AS 'MODULE_PATHNAME', 'jitson_distance_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_distance(a bit varying, b bit varying, config jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'jitson_distance_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_distance(a bytea, b bytea)
RETURNS integer
AS 'MODULE_PATHNAME', 'jitson_distance_bytes'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_distance(a bytea, b bytea, config jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'jitson_distance_bytes'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- pgvector's <~> on bit returns float8; so does ours.  It is declared on
-- bit varying (bit(n) values coerce to it), not on bit, so it coexists
-- with pgvector's <~>(bit, bit) in the same schema.
CREATE FUNCTION jitson_hamming(a bit varying, b bit varying)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_hamming_bits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_hamming(a bytea, b bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'jitson_hamming_bytes'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <~> (
	LEFTARG = bit varying,
	RIGHTARG = bit varying,
	FUNCTION = jitson_hamming,
	COMMUTATOR = <~>
);

CREATE OPERATOR <~> (
	LEFTARG = bytea,
	RIGHTARG = bytea,
	FUNCTION = jitson_hamming,
	COMMUTATOR = <~>
);

-- ---------------------------------------------------------------------
-- jitson_topk: scans tbl.col under the calling statement's snapshot, 1,024
-- rows per kernel call, and returns the config's top_k hits ordered by
-- (distance, id); with max_distance in the config only rows within it.
-- The config may leave out "version" and "record_bits" (taken from the
-- query).  id_col NULL: ids are ctids packed as block * 65536 + offset.
-- filter: an SQL boolean expression over tbl's columns (run with the
-- caller's rights through SPI) restricting the candidates exactly.
-- A Tanimoto config is an error naming jitson_topk_tanimoto (below).
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_topk(config jsonb, query bit varying, tbl regclass, col name,
							id_col name DEFAULT NULL, filter text DEFAULT NULL)
RETURNS TABLE (id bigint, distance integer)
AS 'MODULE_PATHNAME', 'jitson_topk_bits'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION jitson_topk(config jsonb, query bytea, tbl regclass, col name,
							id_col name DEFAULT NULL, filter text DEFAULT NULL)
RETURNS TABLE (id bigint, distance integer)
AS 'MODULE_PATHNAME', 'jitson_topk_bytes'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

-- ---------------------------------------------------------------------
-- jitson_topk_agg(value, query, config, id) -> jitson_hit[] (best first).
-- An ordinary aggregate: WHERE, joins, GROUP BY and parallel workers apply.
-- Hamming configs only, like jitson_topk_pairs and jitson_topk_sharded; a
-- Tanimoto config is an error naming jitson_topk_tanimoto_agg (below).
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_topk_agg_trans(internal, bit varying, bit varying, jsonb, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'jitson_topk_agg_trans_bits'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION jitson_topk_agg_trans(internal, bytea, bytea, jsonb, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'jitson_topk_agg_trans_bytes'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION jitson_topk_agg_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'jitson_topk_agg_combine'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION jitson_topk_agg_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'jitson_topk_agg_serialize'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_topk_agg_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'jitson_topk_agg_deserialize'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_topk_agg_final(internal)
RETURNS jitson_hit[]
AS 'MODULE_PATHNAME', 'jitson_topk_agg_final'
LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE jitson_topk_agg(bit varying, bit varying, jsonb, bigint) (
	SFUNC = jitson_topk_agg_trans,
	STYPE = internal,
	FINALFUNC = jitson_topk_agg_final,
	FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = jitson_topk_agg_combine,
	SERIALFUNC = jitson_topk_agg_serialize,
	DESERIALFUNC = jitson_topk_agg_deserialize,
	PARALLEL = SAFE
);

CREATE AGGREGATE jitson_topk_agg(bytea, bytea, jsonb, bigint) (
	SFUNC = jitson_topk_agg_trans,
	STYPE = internal,
	FINALFUNC = jitson_topk_agg_final,
	FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = jitson_topk_agg_combine,
	SERIALFUNC = jitson_topk_agg_serialize,
	DESERIALFUNC = jitson_topk_agg_deserialize,
	PARALLEL = SAFE
);

-- The same hits as bigint[][] {{id, distance}, ...}: a built-in result type,
-- which postgres_fdw requires before it pushes an aggregate down to a shard.
CREATE FUNCTION jitson_topk_agg_final_pairs(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'jitson_topk_agg_final_pairs'
LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE jitson_topk_pairs(bit varying, bit varying, jsonb, bigint) (
	SFUNC = jitson_topk_agg_trans,
	STYPE = internal,
	FINALFUNC = jitson_topk_agg_final_pairs,
	FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = jitson_topk_agg_combine,
	SERIALFUNC = jitson_topk_agg_serialize,
	DESERIALFUNC = jitson_topk_agg_deserialize,
	PARALLEL = SAFE
);

CREATE AGGREGATE jitson_topk_pairs(bytea, bytea, jsonb, bigint) (
	SFUNC = jitson_topk_agg_trans,
	STYPE = internal,
	FINALFUNC = jitson_topk_agg_final_pairs,
	FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = jitson_topk_agg_combine,
	SERIALFUNC = jitson_topk_agg_serialize,
	DESERIALFUNC = jitson_topk_agg_deserialize,
	PARALLEL = SAFE
);

-- ---------------------------------------------------------------------
-- Kernels: what runs for a config.
-- ---------------------------------------------------------------------
CREATE FUNCTION jitson_compile(config jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'jitson_compile_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_explain(config jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'jitson_explain_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION jitson_version()
RETURNS text
AS 'MODULE_PATHNAME', 'jitson_version_sql'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- ---------------------------------------------------------------------
-- jitson_topk_sharded: top-k over a partitioned table whose partitions are
-- postgres_fdw foreign tables (or local tables).  One UNION ALL branch per
-- leaf partition, each a jitson_topk_agg that postgres_fdw pushes down to
-- its shard (list 'jitson' in the server's extensions option): each shard
-- scans its own rows and returns one row of top_k hits; with
-- async_capable 'true' the shards run at once.  A shard that fails fails
-- the query, unless allow_partial: then the shards are asked one after the
-- other and a failing one is left out with a WARNING.
-- ---------------------------------------------------------------------
-- The statement jitson_topk_sharded runs ($1 = query, $2 = config), to read or EXPLAIN:
--   PREPARE p(bit varying, jsonb) AS <this text>; EXPLAIN VERBOSE EXECUTE p(...);
CREATE FUNCTION jitson_topk_sharded_sql(config jsonb, tbl regclass, col name, id_col name)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	parts regclass[];
	branches text[] := '{}';
	part regclass;
BEGIN
	SELECT array_agg(t.relid ORDER BY t.relid::oid) INTO parts
	FROM pg_partition_tree(tbl) t WHERE t.isleaf;
	IF parts IS NULL THEN
		RAISE EXCEPTION 'jitson_topk_sharded: % has no leaf partitions; give a partitioned table or a table', tbl;
	END IF;
	FOREACH part IN ARRAY parts LOOP
		branches := branches ||
			format('SELECT @extschema@.jitson_topk_pairs(%I, $1, $2, %I::bigint) AS h FROM %s',
				   col, id_col, part);
	END LOOP;
	RETURN format('SELECT h[i][1] AS id, h[i][2]::integer AS distance FROM (%s) s, generate_subscripts(h, 1) i ORDER BY 2, 1 LIMIT %s',
				  array_to_string(branches, ' UNION ALL '),
				  coalesce((config ->> 'top_k')::bigint, 10));
END
$$;

CREATE FUNCTION jitson_topk_sharded(config jsonb, query bit varying, tbl regclass, col name,
									id_col name, allow_partial boolean DEFAULT false)
RETURNS TABLE (id bigint, distance integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	part regclass;
	hits @extschema@.jitson_hit[] := '{}';
	one @extschema@.jitson_hit[];
BEGIN
	IF NOT allow_partial THEN
		RETURN QUERY EXECUTE @extschema@.jitson_topk_sharded_sql(config, tbl, col, id_col)
			USING query, config;
		RETURN;
	END IF;
	FOR part IN SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.isleaf ORDER BY t.relid::oid LOOP
		BEGIN
			EXECUTE format('SELECT array_agg((s.h[i][1], s.h[i][2]::integer)::@extschema@.jitson_hit) '
						   'FROM (SELECT @extschema@.jitson_topk_pairs(%I, $1, $2, %I::bigint) AS h FROM %s) s, '
						   'generate_subscripts(s.h, 1) i', col, id_col, part)
				INTO one USING query, config;
			hits := hits || coalesce(one, '{}');
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'jitson_topk_sharded: partition % failed and is left out: %', part, SQLERRM;
		END;
	END LOOP;
	RETURN QUERY SELECT h.id, h.distance FROM unnest(hits) h ORDER BY 2, 1
		LIMIT coalesce((config ->> 'top_k')::bigint, 10);
END
$$;

-- ---------------------------------------------------------------------
-- 0.2: Tanimoto similarity and pgvector's Jaccard distance <%>
-- ---------------------------------------------------------------------

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
