import { Migration } from "@mikro-orm/migrations";
import { Migration20261126090000_audit_trail as AuditTrail } from "./Migration20261126090000_audit_trail.js";

/**
 * Cheaper audit writes (issue 8 benchmark: CreateTask/UpdateTask with auditing >= 0.85 of without).
 *
 * Measured per audited row before this change (EXPLAIN ANALYZE of 2,000 task inserts, PostgreSQL 15): the row
 * trigger cost 0.45-0.7 ms, more than the task insert itself, spent in (1) per-column masking checks — two
 * case-insensitive regexes per column, and the whole-row `audit_mask` recursion whenever a jsonb column held
 * an object; (2) the BEFORE INSERT content hash on `audit_log` (jsonb -> text -> sha256 on every write);
 * (3) jsonb_each/jsonb_object_agg to drop null columns. Now:
 * - `create`/`purge` values are `jsonb_strip_nulls(row)` (C code); only when a jsonb column holds an object
 *   with null fields (which strip_nulls would also drop) is the exact top-level-only removal used.
 * - `audit_may_hold_secret(text)` decides with plain substring tests on a lower-cased text (and on the same
 *   text without separators) whether anything could need masking: every secret key fragment and every value
 *   pattern below contains one of a few stems. Only a row change whose values hold a stem is walked value by
 *   value; only a string holding a stem runs the regexes.
 * - Masking follows the application's policy (libs/config/src/masking.ts) instead of the smaller set the audit
 *   trail migration had: keys normalized like `isSecretKey` (lower case without - _ . whitespace, containing
 *   password, secret, token, apikey, ...), and the value patterns of DEFAULT_MASK_PATTERNS ported to
 *   PostgreSQL regexes (PEM blocks, URL passwords, auth schemes, JWTs, JSON and key=value secret pairs, AWS key
 *   ids, vendor tokens). libs/testing/src/audit.spec.ts runs the shared masking corpus through the triggers.
 *   `taskmaster.audit_mask_keys` (a database setting) still replaces the key pattern (now matched against the
 *   normalized key); patterns added to the application's policy by environment are not applied here.
 * - The content hash moves from insert time to sealing: rows are written unsealed with `hash` and
 *   `prev_hash` null, and the BEFORE INSERT trigger is gone: the application role may insert only the columns
 *   the audit trigger writes (no hash, no seq, no occurred_at: it can neither plant a hash nor backdate), and
 *   `audit_seal()` computes each row's content hash as it chains it. Tamper evidence starts at sealing, as
 *   before (an unsealed row's own hash never protected it from someone able to recompute it), and the
 *   monitoring service seals on a schedule. `audit_verify()` checks sealed rows as before and reports an
 *   unsealed row that carries a hash.
 * - Fixes found while building the scheduler, as wrappers around the unchanged bodies (renamed *_unlocked):
 *   `audit_ensure_partitions()` takes the retention and seal locks itself (two runs at once deadlocked), and
 *   `audit_drop_expired()` keeps the chain's end verifiable (an anchor) when the row holding it expires.
 * - Derived columns (tg_argv[1]) are not changes of their own: templates' usage statistics, recomputed by the
 *   usage batcher under whichever call's context started its timer, no longer produce template/update rows.
 * - `audit_log_action_idx` is dropped (one btree write less per audited change): action filters are
 *   combined with a time range or an entity/actor and served by those indexes.
 * down() restores the previous definitions, taken from Migration20261126090000_audit_trail itself.
 */

/** Secret key fragments of the application's policy (libs/config/src/masking.ts DEFAULT_SECRET_KEYS). */
const SECRET_KEYS = [
  "password",
  "passwd",
  "passphrase",
  "pwd",
  "secret",
  "token",
  "apikey",
  "authorization",
  "privatekey",
  "credential",
  "cookie",
  "accesskey",
  "sessionkey",
  "signingkey",
  "jwtassertion",
];

/**
 * Lower-case stems, searched with separators (- _ . whitespace) removed: a secret key contains one of the
 * SECRET_KEYS, and so does every secret pair (password=..., "apiKey": ...); the rest are the auth schemes, JWTs,
 * AWS key ids and vendor tokens audit_mask_text() rewrites. Kept specific ("password", not "pass") so that
 * ordinary text rarely takes the slower path.
 */
const NT_STEMS = [
  ...SECRET_KEYS,
  "bearer",
  "basic",
  "digest",
  "negotiate",
  "aws4",
  "eyj",
  "akia",
  "asia",
  "agpa",
  "aida",
  "aroa",
  "anpa",
  "anva",
  "aipa",
  "xox",
  "aiza",
];

/** Lower-case stems that contain separators, searched as written. */
const LT_STEMS = [
  "://",
  "-----begin",
  "ghp_",
  "gho_",
  "ghu_",
  "ghs_",
  "ghr_",
  "github_pat",
  "k_live",
  "k_test",
  "npm_",
];

/** Functions this migration replaces; down() re-creates them from the audit trail migration's own SQL. */
const REPLACED = ["audit_mask", "audit_row_change", "audit_seal", "audit_verify"];

const GENESIS = "0".repeat(64);

/** Columns of templates recomputed from usage logs (statistics), not audited as changes of the template. */
const TEMPLATE_DERIVED_COLUMNS = ["usage_count", "success_rate", "avg_execution_time_ms"];

/** What audit_row_change() writes; everything else of an audit row comes from defaults or audit_seal(). */
const APP_INSERT_COLUMNS = [
  "id",
  "entity_type",
  "entity_id",
  "action",
  "changed_fields",
  "old_values",
  "new_values",
  "actor",
  "request_id",
  "trace_id",
  "client_ip",
  "user_agent",
];

export class Migration20261126100000_audit_fast_path extends Migration {
  name = "Migration20261126100000_audit_fast_path";

  async up() {
    this.addSql(`create function "audit_may_hold_secret"(t text) returns boolean language plpgsql stable as $$
declare
  lt text := lower(t collate "C");
  -- (nested replace(): translate() costs ten times more on a row's text)
  nt text := replace(replace(replace(replace(lt, '-', ''), '_', ''), '.', ''), ' ', '');
begin
  if t is null then
    return false;
  end if;
  if coalesce(current_setting('taskmaster.audit_mask_keys', true), '') <> '' then
    return true; -- a custom key pattern: no cheap test for it
  end if;
  -- Stems of every secret key and of every value pattern of audit_mask_text(); separators removed (nt) so that
  -- "api-key" / "Private_Key" / "P.W.D" are caught like the normalized keys of the application's policy.
  return ${NT_STEMS.map((x) => `strpos(nt, '${x}') > 0`).join("\n      or ")}
      or ${LT_STEMS.map((x) => `strpos(lt, '${x}') > 0`).join("\n      or ")};
end $$;`);
    this.addSql(String.raw`create function "audit_is_secret_key"(k text) returns boolean language sql stable as $$
  select lower(regexp_replace(k, '[-_.[:space:]]', '', 'g')) ~ coalesce(nullif(current_setting('taskmaster.audit_mask_keys', true), ''),
    '${SECRET_KEYS.join("|")}')
$$;`);
    this.addSql(String.raw`create function "audit_mask_text"(s text) returns text language plpgsql stable as $$
declare
  sw constant text := '[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential|authorization|cookie)[A-Za-z0-9_-]*';
  m text[];
  hdr text;
  ftr text;
  b integer;
  e integer;
  pos integer := 1;
begin
  if s is null or not audit_may_hold_secret(s) then
    return s;
  end if;
  -- PEM private keys: the body between the BEGIN and END lines (to the end when truncated).
  loop
    m := regexp_match(substr(s, pos), '-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----');
    exit when m is null;
    hdr := '-----BEGIN ' || coalesce(m[1], '') || 'PRIVATE KEY' || coalesce(m[2], '') || '-----';
    ftr := '-----END ' || coalesce(m[1], '') || 'PRIVATE KEY' || coalesce(m[2], '') || '-----';
    b := pos - 1 + strpos(substr(s, pos), hdr);
    e := strpos(substr(s, b + length(hdr)), ftr);
    if e = 0 then
      s := left(s, b - 1) || hdr || '***' || ftr;
      exit;
    end if;
    s := left(s, b - 1) || hdr || '***' || ftr || substr(s, b + length(hdr) + e - 1 + length(ftr));
    pos := b + length(hdr) + 3 + length(ftr);
  end loop;
  s := regexp_replace(s, '(\y[a-z][a-z0-9+.-]*://[^:/?#@[:space:]]*:)([^@/?#[:space:]]*)@', '\1***@', 'gi');
  s := regexp_replace(s, '\y(Bearer|Basic|Digest|Token|Negotiate|AWS4-HMAC-SHA256)([[:space:]]+)[A-Za-z0-9._~+/=,:-]{6,}', '\1\2***', 'gi');
  s := regexp_replace(s, '\yeyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*', '***', 'g');
  s := regexp_replace(s, '("' || sw || '"[[:space:]]*:[[:space:]]*)"(?:[^"\\]|\\.)*"', '\1"***"', 'gi');
  s := regexp_replace(s, '(\y' || sw || '[[:space:]]*[=:][[:space:]]*)([''"]?)(?!\*\*\*)[^[:space:]''"&,;]+\2', '\1\2***\2', 'gi');
  s := regexp_replace(s, '\y(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\y', '***', 'g');
  s := regexp_replace(s, '\y(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abpors]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36})\y', '***', 'g');
  return s;
end $$;`);
    this.addSql(`create or replace function "audit_mask"(k text, v jsonb) returns jsonb language plpgsql stable as $$
declare
  out jsonb;
begin
  if v is null or v = 'null'::jsonb then
    return v;
  end if;
  if k is not null and audit_is_secret_key(k) then
    return to_jsonb('***'::text);
  end if;
  case jsonb_typeof(v)
    when 'string' then
      return to_jsonb(audit_mask_text(v #>> '{}'));
    when 'object' then
      select coalesce(jsonb_object_agg(e.key, audit_mask(e.key, e.value)), '{}'::jsonb) into out from jsonb_each(v) e;
      return out;
    when 'array' then
      select coalesce(jsonb_agg(audit_mask(null, a.x) order by a.i), '[]'::jsonb) into out
        from jsonb_array_elements(v) with ordinality as a(x, i);
      return out;
    else
      return v;
  end case;
end $$;`);
    this.addSql(`create function "audit_mask_values"(v jsonb) returns jsonb language plpgsql stable as $$
begin
  -- Values of one row change: only a change whose text holds a stem is looked at column by column, and only
  -- the columns holding one (or named like a secret) are walked.
  if v is null or not audit_may_hold_secret(v::text) then
    return v;
  end if;
  return (select jsonb_object_agg(e.key,
      case
        when e.value = 'null'::jsonb then e.value
        when audit_is_secret_key(e.key) then to_jsonb('***'::text)
        when jsonb_typeof(e.value) in ('string', 'object', 'array') and audit_may_hold_secret(e.value::text)
          then audit_mask(null, e.value)
        else e.value
      end)
    from jsonb_each(v) e);
end $$;`);
    this.addSql(`create function "audit_non_null_columns"(j jsonb) returns jsonb language plpgsql immutable as $$
begin
  -- jsonb_strip_nulls also drops null fields nested in jsonb columns; keep those values exact.
  if jsonb_path_exists(j, 'strict $.*.** ? (@.type() == "object").* ? (@ == null)') then
    return j - array(select e.key from jsonb_each(j) e where e.value = 'null'::jsonb);
  end if;
  return jsonb_strip_nulls(j);
end $$;`);
    this.addSql(`create or replace function "audit_row_change"() returns trigger language plpgsql as $$
declare
  old_j jsonb;
  new_j jsonb;
  act text;
  changed text[];
  o jsonb;
  n jsonb;
  ip text;
begin
  if tg_op = 'INSERT' then
    new_j := to_jsonb(new) - 'search_vector';
    act := 'create';
    n := audit_non_null_columns(new_j);
    changed := array(select jsonb_object_keys(n));
    n := audit_mask_values(n);
  elsif tg_op = 'DELETE' then
    old_j := to_jsonb(old) - 'search_vector';
    act := case when old_j ? 'deleted_at' then 'purge' else 'delete' end;
    o := audit_non_null_columns(old_j);
    changed := array(select jsonb_object_keys(o));
    o := audit_mask_values(o);
  else
    old_j := to_jsonb(old) - 'search_vector';
    new_j := to_jsonb(new) - 'search_vector';
    -- tg_argv[1]: derived columns of this table (comma-separated) that are not changes of their own.
    select array_agg(e.key), jsonb_object_agg(e.key, old_j -> e.key), jsonb_object_agg(e.key, e.value)
      into changed, o, n
      from jsonb_each(new_j) e
     where e.key <> 'updated_at' and e.value is distinct from old_j -> e.key
       and (tg_nargs < 2 or not (e.key = any(string_to_array(tg_argv[1], ','))));
    if changed is null then
      return null; -- nothing but a touch of updated_at or of derived columns: no change to audit
    end if;
    o := audit_mask_values(o);
    n := audit_mask_values(n);
    if 'deleted_at' = any(changed) and new_j -> 'deleted_at' <> 'null'::jsonb and old_j -> 'deleted_at' = 'null'::jsonb then
      act := 'delete';
    elsif 'deleted_at' = any(changed) and new_j -> 'deleted_at' = 'null'::jsonb then
      act := 'restore';
    elsif 'status' = any(changed) then
      act := 'status_change';
    else
      act := 'update';
    end if;
  end if;
  ip := nullif(current_setting('taskmaster.client_ip', true), '');
  insert into audit_log (id, entity_type, entity_id, action, changed_fields, old_values, new_values,
                         actor, request_id, trace_id, client_ip, user_agent)
  values (gen_random_uuid(), tg_argv[0], coalesce(new_j, old_j) ->> 'id', act, coalesce(changed, '{}'), o, n,
          left(nullif(current_setting('taskmaster.actor', true), ''), 255),
          left(nullif(current_setting('taskmaster.request_id', true), ''), 255),
          left(nullif(current_setting('taskmaster.trace_id', true), ''), 64),
          case when ip ~ '^[0-9a-fA-F:.]{2,45}$' then ip::inet end,
          left(nullif(current_setting('taskmaster.user_agent', true), ''), 1000));
  return null;
end $$;`);
    // No BEFORE INSERT trigger any more (one plpgsql call per audited change): the application role may insert
    // only the columns an audit row is written with, so it can neither plant a hash nor backdate a row
    // (seq, occurred_at, prev_hash and hash come from defaults and from audit_seal()).
    this.addSql(`drop trigger if exists "audit_log_hash" on "audit_log";`);
    this.addSql(`drop function if exists "audit_log_before_insert"();`);
    this.addSql(`do $$ begin
  if exists (select 1 from pg_roles where rolname = 'taskmaster_app') then
    revoke insert on audit_log from taskmaster_app;
    grant insert (${APP_INSERT_COLUMNS.map((c) => `"${c}"`).join(", ")}) on audit_log to taskmaster_app;
  end if;
end $$;`);
    this.addSql(`update "audit_log" set "hash" = null where "prev_hash" is null and "hash" is not null;`);
    this.addSql(`create or replace function "audit_seal"(max_rows integer default 100000) returns integer
language plpgsql security definer as $$
declare
  prev varchar(64);
  r record;
  h varchar(64);
  sealed integer := 0;
begin
  perform pg_advisory_xact_lock(31324, 8001);
  select last_hash into prev from audit_chain_state where id = 1 for update;
  for r in select a as row, a.id, a.occurred_at from audit_log a where a.prev_hash is null order by a.seq limit max_rows loop
    h := audit_chain_hash(prev, audit_content_hash(r.row));
    update audit_log set prev_hash = prev, hash = h where id = r.id and occurred_at = r.occurred_at;
    prev := h;
    sealed := sealed + 1;
  end loop;
  if sealed > 0 then
    update audit_chain_state set last_hash = prev, sealed_rows = sealed_rows + sealed, updated_at = now() where id = 1;
  end if;
  return sealed;
end $$;`);
    this.addSql(`create or replace function "audit_verify"(max_problems integer default 1)
returns table (seq bigint, id uuid, occurred_at timestamptz, problem text)
language plpgsql stable as $$
#variable_conflict use_column
declare
  st record;
begin
  select * into st from audit_chain_state s where s.id = 1;
  return query
  with lr as (
    select a.seq, a.id, a.occurred_at, a.prev_hash, a.hash,
           case when a.prev_hash is not null then audit_content_hash(a) end as content,
           count(*) over (partition by a.prev_hash) as siblings
      from audit_log a
  ), known as (
    select distinct k.hash from lr k where k.hash is not null
  ), checked as (
    select r.seq, r.id, r.occurred_at,
      case
        when r.prev_hash is null and r.hash is not null then 'unsealed row carries a hash (written around the audit trigger)'
        when r.prev_hash is null then null
        when r.hash is null then 'hash missing'
        when r.hash <> audit_chain_hash(r.prev_hash, r.content) then 'content does not match its hash (row modified)'
        when r.prev_hash <> '${GENESIS}' and not (r.prev_hash = any(st.anchors)) and p.hash is null
          then 'previous link missing (row deleted or hash altered)'
        when r.siblings > 1 then 'chain forks (two rows claim the same predecessor)'
      end as problem
    from lr r left join known p on p.hash = r.prev_hash
  )
  select c.seq, c.id, c.occurred_at, c.problem from checked c where c.problem is not null
  union all
  select null::bigint, null::uuid, null::timestamptz, 'chain end missing (last sealed row deleted or altered)'
   where st.last_hash <> '${GENESIS}' and not (st.last_hash = any(st.anchors))
     and not exists (select 1 from known k where k.hash = st.last_hash)
  order by 1 nulls last
  limit max_problems;
end $$;`);
    // The two retention functions keep their bodies (renamed *_unlocked, callable only by their owner) behind
    // wrappers: ensure_partitions takes the locks drop_expired holds, in its order (retention, then seal) — two
    // runs at once, or one moving rows out of the default partition while a seal updates them, deadlocked —
    // and drop_expired first anchors the chain's end when the row holding it is about to expire.
    this.addSql(
      `alter function "audit_ensure_partitions"(integer) rename to "audit_ensure_partitions_unlocked";`,
    );
    this.addSql(`alter function "audit_drop_expired"(integer) rename to "audit_drop_expired_unlocked";`);
    this.addSql(`create function "audit_ensure_partitions"(months_ahead integer default 3)
returns setof text language plpgsql security definer as $$
begin
  perform pg_advisory_xact_lock(31324, 8002);
  perform pg_advisory_xact_lock(31324, 8001);
  return query select audit_ensure_partitions_unlocked(months_ahead);
end $$;`);
    this.addSql(`create function "audit_drop_expired"(retention_days integer default 90)
returns table (partition_name text, range_start timestamptz, range_end timestamptz, rows_removed bigint)
language plpgsql security definer as $$
declare
  cutoff timestamptz := now() - make_interval(days => greatest(coalesce(retention_days, 1), 1));
  chain_end varchar(64);
  holder record;
begin
  perform pg_advisory_xact_lock(31324, 8002);
  perform audit_seal();
  select last_hash into chain_end from audit_chain_state where id = 1;
  select a.occurred_at, a.tableoid::regclass::text as part into holder from audit_log a where a.hash = chain_end;
  -- Expires with its month's partition (dropped once the whole month is past the cutoff), or as a stray
  -- row of the default partition: then the chain's end stays verifiable as an anchor.
  if holder.part is not null and (
       (holder.part = 'audit_log_default' and holder.occurred_at < cutoff)
       or (holder.part <> 'audit_log_default'
           and date_trunc('month', holder.occurred_at at time zone 'UTC') + interval '1 month' <= cutoff at time zone 'UTC')) then
    update audit_chain_state set anchors = anchors || chain_end::text, updated_at = now()
     where id = 1 and not (chain_end = any(anchors));
  end if;
  return query select * from audit_drop_expired_unlocked(retention_days);
end $$;`);
    this.addSql(
      `revoke execute on function audit_ensure_partitions_unlocked(integer), audit_drop_expired_unlocked(integer) from public;`,
    );
    this.addSql(
      `revoke execute on function audit_ensure_partitions(integer), audit_drop_expired(integer) from public;`,
    );
    this.addSql(`do $$
declare r text;
begin
  foreach r in array array['taskmaster_retention', 'taskmaster_owner', 'taskmaster_app'] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('revoke execute on function audit_ensure_partitions_unlocked(integer), audit_drop_expired_unlocked(integer) from %I', r);
    end if;
  end loop;
  foreach r in array array['taskmaster_retention', 'taskmaster_owner'] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('grant execute on function audit_ensure_partitions(integer), audit_drop_expired(integer) to %I', r);
    end if;
  end loop;
end $$;`);
    // Usage statistics on templates are derived from usage logs (written by the usage batcher, whose timer
    // runs under whichever call started it): recomputing them is not a change of the template.
    this.addSql(`drop trigger if exists "templates_audit" on "templates";`);
    this.addSql(
      `create trigger "templates_audit" after insert or update or delete on "templates" for each row execute function "audit_row_change"('template', '${TEMPLATE_DERIVED_COLUMNS.join(",")}');`,
    );
    this.addSql(this.#pinSearchPath());
    this.addSql(`drop index if exists "audit_log_action_idx";`);
  }

  async down() {
    const previous = new AuditTrail(this.driver, this.config);
    await previous.up();
    for (const name of REPLACED) {
      const sql = previous
        .getQueries()
        .find((q) => typeof q === "string" && q.startsWith(`create function "${name}"`));
      if (sql === undefined) throw new Error(`audit trail migration no longer defines ${name}()`);
      this.addSql(sql.replace("create function", "create or replace function"));
    }
    this.addSql(`drop trigger if exists "templates_audit" on "templates";`);
    this.addSql(
      `create trigger "templates_audit" after insert or update or delete on "templates" for each row execute function "audit_row_change"('template');`,
    );
    this.addSql(`drop function if exists "audit_drop_expired"(integer);`);
    this.addSql(`drop function if exists "audit_ensure_partitions"(integer);`);
    this.addSql(
      `alter function "audit_ensure_partitions_unlocked"(integer) rename to "audit_ensure_partitions";`,
    );
    this.addSql(`alter function "audit_drop_expired_unlocked"(integer) rename to "audit_drop_expired";`);
    this.addSql(`do $$
declare r text;
begin
  foreach r in array array['taskmaster_retention', 'taskmaster_owner'] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('grant execute on function audit_ensure_partitions(integer), audit_drop_expired(integer) to %I', r);
    end if;
  end loop;
end $$;`);
    this.addSql(this.#pinSearchPath());
    for (const start of ['create function "audit_log_before_insert"', 'create trigger "audit_log_hash"']) {
      const sql = previous.getQueries().find((q) => typeof q === "string" && q.startsWith(start));
      if (sql === undefined) throw new Error(`audit trail migration no longer has: ${start}`);
      this.addSql(sql);
    }
    this.addSql(`do $$ begin
  if exists (select 1 from pg_roles where rolname = 'taskmaster_app') then
    revoke insert (${APP_INSERT_COLUMNS.map((c) => `"${c}"`).join(", ")}) on audit_log from taskmaster_app;
    grant insert on audit_log to taskmaster_app;
  end if;
end $$;`);
    this.addSql(`update "audit_log" set "hash" = audit_content_hash("audit_log") where "prev_hash" is null;`);
    this.addSql(`drop function if exists "audit_non_null_columns"(jsonb);`);
    this.addSql(`drop function if exists "audit_mask_values"(jsonb);`);
    this.addSql(`drop function if exists "audit_mask_text"(text);`);
    this.addSql(`drop function if exists "audit_is_secret_key"(text);`);
    this.addSql(`drop function if exists "audit_may_hold_secret"(text);`);
    this.addSql(
      `create index if not exists "audit_log_action_idx" on "audit_log" ("action", "occurred_at");`,
    );
  }

  /** CREATE OR REPLACE drops a function's SET clauses: pin the SECURITY DEFINER functions' settings again. */
  #pinSearchPath() {
    return `do $$ begin
  execute format('alter function audit_seal(integer) set search_path = %I, pg_temp', current_schema());
  execute format('alter function audit_ensure_partitions(integer) set search_path = %I, pg_temp', current_schema());
  execute format('alter function audit_drop_expired(integer) set search_path = %I, pg_temp', current_schema());
  alter function audit_ensure_partitions(integer) set timezone = 'UTC';
  alter function audit_drop_expired(integer) set timezone = 'UTC';
end $$;`;
  }
}
