/**
 * The template change feed: one LISTEN connection on channel `template_changed`, which the triggers of
 * Migration20261126130000_template_render_notify notify at commit with the id of a template whose render
 * inputs changed ('*' when many may have: template types, TRUNCATE). Reconnects with exponential backoff and
 * jitter (from `reconnectMs`, doubling up to `maxReconnectMs`, back to `reconnectMs` once LISTEN is up) when the
 * connection fails; `onUp` runs once LISTEN is active, `onDown` when it is lost (notifications sent while
 * down are lost: consumers must treat everything as changed). A throwing handler never escapes into the
 * connection's event listeners (it would end the process): it is reported to `onHandlerError`.
 */
import type { MikroORM } from "@mikro-orm/core";
import pg from "pg";
import { backoffDelayMs } from "./db-retry.js";

export const TEMPLATE_CHANGED_CHANNEL = "template_changed";

export interface TemplateChangeHandlers {
  onChange(templateId: string): void;
  onUp(): void;
  onDown(error: unknown): void;
}

export class TemplateChangeListener {
  private client: pg.Client | null = null;
  private starting = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  /** Failed connects in a row (the backoff exponent); 0 once LISTEN is up. */
  private failures = 0;

  constructor(
    private readonly orm: MikroORM,
    private readonly handlers: TemplateChangeHandlers,
    private readonly reconnectMs = 1000,
    private readonly maxReconnectMs = 30_000,
    private readonly onHandlerError: (error: unknown) => void = () => {},
  ) {}

  /** Delay before the next reconnect (backoff with jitter). */
  nextReconnectDelayMs(): number {
    return backoffDelayMs(
      {
        attempts: Number.POSITIVE_INFINITY,
        initialDelayMs: this.reconnectMs,
        factor: 2,
        maxDelayMs: Math.max(this.reconnectMs, this.maxReconnectMs),
      },
      Math.max(1, this.failures),
    );
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      try {
        this.onHandlerError(error);
      } catch {
        // Nothing more to do: a handler must not take the connection's event loop down.
      }
    }
  }

  /** Connects unless connected, connecting, waiting to reconnect or stopped. */
  start(): void {
    if (this.stopped || this.client !== null || this.starting || this.timer !== null) return;
    this.starting = true;
    void this.connect().finally(() => {
      this.starting = false;
    });
  }

  /** Closes the connection for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client !== null) {
      this.call(() => this.handlers.onDown(new Error("stopped")));
      await client.end().catch(() => {});
    }
  }

  private async connect(): Promise<void> {
    const config = this.orm.config;
    const driverOptions = (config.get("driverOptions") ?? {}) as Record<string, unknown>;
    const client = new pg.Client({
      connectionString: config.get("clientUrl"),
      ...(driverOptions.ssl !== undefined && { ssl: driverOptions.ssl as pg.ClientConfig["ssl"] }),
      application_name: `${String(driverOptions.application_name ?? "taskmaster")}-template-changes`.slice(
        0,
        63,
      ),
      keepAlive: true,
    });
    const broken = (error: unknown) => {
      if (this.client !== client) return;
      this.client = null;
      this.call(() => this.handlers.onDown(error));
      void client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on("notification", (n) => {
      if (this.client === client && n.channel === TEMPLATE_CHANGED_CHANNEL)
        this.call(() => this.handlers.onChange(n.payload ?? "*"));
    });
    client.on("error", broken);
    client.on("end", () => broken(new Error("the LISTEN connection ended")));
    try {
      await client.connect();
      await client.query(`listen ${TEMPLATE_CHANGED_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      this.failures++;
      this.call(() => this.handlers.onDown(error));
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.failures = 0;
    this.call(() => this.handlers.onUp());
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.start();
    }, this.nextReconnectDelayMs());
    this.timer.unref();
  }
}
