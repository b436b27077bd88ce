import { expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { databaseUrlFromParts, withDatabaseUrl } from "./database-url.js";

it("builds the URL from the seed's DB_* variables, encoding user and password", () => {
  expect(
    databaseUrlFromParts({
      DB_HOST: "db.internal",
      DB_PORT: "6432",
      DB_NAME: "tm",
      DB_USER: "app",
      DB_PASSWORD: "p@ss:/w",
    }),
  ).toBe("postgres://app:p%40ss%3A%2Fw@db.internal:6432/tm");
  expect(databaseUrlFromParts({ DB_HOST: "localhost" })).toBe(
    "postgres://postgres@localhost:5432/taskmaster",
  );
  expect(databaseUrlFromParts({ DB_NAME: "tm" })).toBeUndefined();
});

it("lets DATABASE_URL win over the DB_* variables", () => {
  const env = { DATABASE_URL: "postgres://u@h:5432/one", DB_HOST: "other" };
  expect(withDatabaseUrl(env).DATABASE_URL).toBe("postgres://u@h:5432/one");
});

it("loadConfig accepts the DB_* form in a profile that requires a database", () => {
  const config = loadConfig(undefined, {
    TASKMASTER_PROFILE: "production",
    DB_HOST: "db.internal",
    DB_NAME: "taskmaster",
    DB_USER: "taskmaster_service",
    DB_PASSWORD: "secret",
    DB_SSL_MODE: "require",
  });
  expect(config.database.url).toBe("postgres://taskmaster_service:secret@db.internal:5432/taskmaster");
  expect(config.database.ssl.mode).toBe("require");
});
