import { MigrationGenerator } from "@mikro-orm/migrations";

/**
 * Emits migrations as ES module `.js` files, so compiled tools run them with plain `node` (no TS loader)
 * in a `"type": "module"` repository. MikroORM's own JS generator writes CommonJS.
 */
export class EsmMigrationGenerator extends MigrationGenerator {
  override generateMigrationFile(className: string, diff: { up: string[]; down: string[] }): string {
    let ret = `import { Migration } from "@mikro-orm/migrations";\n\n`;
    ret += `export class ${className} extends Migration {\n`;
    ret += `  name = "${className}";\n\n`;
    ret += `  async up() {\n`;
    for (const sql of diff.up) {
      ret += this.createStatement(sql, 4);
    }
    ret += `  }\n`;
    if (diff.down.length > 0) {
      ret += `\n  async down() {\n`;
      for (const sql of diff.down) {
        ret += this.createStatement(sql, 4);
      }
      ret += `  }\n`;
    }
    ret += `}\n`;
    return ret;
  }
}
