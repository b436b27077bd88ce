/**
 * The one database-error classifier, table-driven over SQLSTATE classes and the driver's codeless errors.
 * Real errors from a real PostgreSQL are classified in libs/testing/src/database-errors.spec.ts.
 */
import { describe, expect, it } from "vitest";
import {
  answerForDatabaseError,
  classifyDatabaseError,
  constraintOf,
  type DatabaseErrorKind,
  isReferenceViolation,
  isRetryableTransactionError,
  isUniqueViolation,
  kindOfSqlState,
} from "./db-errors.js";

const pg = (code: string, message = "x") => Object.assign(new Error(message), { code });

const BY_SQLSTATE: [string, DatabaseErrorKind][] = [
  // class 08 connection exception
  ["08000", "transient"],
  ["08003", "transient"],
  ["08006", "transient"],
  ["08001", "transient"],
  ["08P01", "transient"],
  // 53 insufficient resources, 58 system error, 57P0x operator intervention
  ["53300", "transient"],
  ["53100", "transient"],
  ["53200", "transient"],
  ["58000", "transient"],
  ["58030", "transient"],
  ["57P01", "transient"],
  ["57P02", "transient"],
  ["57P03", "transient"],
  ["25006", "transient"],
  ["25P03", "transient"],
  // 22 data exception: invalid input, NUL and bad unicode included
  ["22P05", "invalid_input"],
  ["22021", "invalid_input"],
  ["22001", "invalid_input"],
  ["22003", "invalid_input"],
  ["22P02", "invalid_input"],
  ["22007", "invalid_input"],
  ["22008", "invalid_input"],
  ["22012", "invalid_input"],
  ["22023", "invalid_input"],
  // 23 integrity constraint violation
  ["23502", "invalid_input"],
  ["23514", "invalid_input"],
  ["23000", "invalid_input"],
  ["23505", "already_exists"],
  ["23P01", "already_exists"],
  ["23503", "reference"],
  // 40 transaction rollback, 55P03 lock not available
  ["40001", "conflict"],
  ["40P01", "conflict"],
  ["40000", "conflict"],
  ["55P03", "conflict"],
  // 57014 query canceled (statement_timeout or cancel)
  ["57014", "timeout"],
  // bugs: syntax/access, unsupported feature, internal, failed transaction state, privileges
  ["42601", "bug"],
  ["42P01", "bug"],
  ["42703", "bug"],
  ["42501", "bug"],
  ["0A000", "bug"],
  ["XX000", "bug"],
  ["XX001", "bug"],
  ["25P02", "bug"],
  ["2BP01", "bug"],
  ["P0001", "bug"],
  // node socket errors
  ["ECONNREFUSED", "transient"],
  ["ECONNRESET", "transient"],
  ["ETIMEDOUT", "transient"],
  ["EPIPE", "transient"],
];

describe("classifyDatabaseError", () => {
  it.each(BY_SQLSTATE)("SQLSTATE %s is %s", (code, kind) => {
    expect(kindOfSqlState(code)).toBe(kind);
    expect(classifyDatabaseError(pg(code))).toBe(kind);
    // MikroORM wraps the driver error as `cause`
    expect(classifyDatabaseError(new Error("wrapped", { cause: pg(code) }))).toBe(kind);
  });

  it.each([
    ["Connection terminated unexpectedly"],
    ["Connection terminated"],
    ["Client has encountered a connection error and is not queryable"],
    ["timeout exceeded when trying to connect"],
    ["Connection terminated due to connection timeout"],
  ])("pg's codeless %s is transient", (message) => {
    expect(classifyDatabaseError(new Error(message))).toBe("transient");
    expect(answerForDatabaseError(new Error(message))).toMatchObject({ kind: "transient" });
  });

  it("MikroORM's exceptions by name", () => {
    const named = (name: string) => Object.assign(new Error("x"), { name });
    expect(classifyDatabaseError(named("OptimisticLockError"))).toBe("conflict");
    expect(classifyDatabaseError(named("UniqueConstraintViolationException"))).toBe("already_exists");
    expect(classifyDatabaseError(named("ForeignKeyConstraintViolationException"))).toBe("reference");
    expect(classifyDatabaseError(named("NotNullConstraintViolationException"))).toBe("invalid_input");
    expect(classifyDatabaseError(named("DeadlockException"))).toBe("conflict");
    expect(classifyDatabaseError(named("ConnectionException"))).toBe("transient");
  });

  it("leaves what is not a database error alone", () => {
    for (const e of [new TypeError("x"), new Error("boom"), "text", null, undefined, 42, { code: 1 }]) {
      expect(classifyDatabaseError(e)).toBeUndefined();
      expect(answerForDatabaseError(e)).toBeUndefined();
    }
  });

  it("retries whole transactions on serialization failure, deadlock and connection errors only", () => {
    expect(isRetryableTransactionError(pg("40001"))).toBe(true);
    expect(isRetryableTransactionError(pg("40P01"))).toBe(true);
    expect(isRetryableTransactionError(pg("57P01"))).toBe(true);
    expect(isRetryableTransactionError(pg("23505"))).toBe(false);
    expect(isRetryableTransactionError(pg("57014"))).toBe(false);
    expect(isRetryableTransactionError(pg("42P01"))).toBe(false);
  });
});

describe("unique and reference violations by constraint", () => {
  const violation = (code: string, constraint: string) =>
    Object.assign(new Error(`duplicate key value violates unique constraint "${constraint}"`), {
      code,
      constraint,
    });

  it("matches the constraint the driver names, on the error or a wrapping cause", () => {
    const e = violation("23505", "templates_name_uniq");
    expect(isUniqueViolation(e)).toBe(true);
    expect(isUniqueViolation(e, "templates_name_uniq")).toBe(true);
    expect(isUniqueViolation(e, "template_types_name_uniq")).toBe(false);
    const wrapped = Object.assign(new Error("wrapped"), { cause: e });
    expect(constraintOf(wrapped)).toBe("templates_name_uniq");
    expect(isUniqueViolation(wrapped, "templates_name_uniq")).toBe(true);
    expect(isReferenceViolation(violation("23503", "t_fk"), "t_fk")).toBe(true);
    expect(isReferenceViolation(e, "templates_name_uniq")).toBe(false);
  });

  it("never reads message text: a codeless error naming a constraint is not a violation", () => {
    const text = new Error('duplicate key value violates unique constraint "templates_name_uniq"');
    expect(isUniqueViolation(text)).toBe(false);
    expect(isUniqueViolation(text, "templates_name_uniq")).toBe(false);
    expect(constraintOf(text)).toBeUndefined();
  });
});
