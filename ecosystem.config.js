// PM2 alternative to launchd for the resident Telegram listener (`qtx telegram`).
// The stages stay on launchd (`qtx launchd install`): PM2's cron_restart is not a scheduler.
//
//   QTX_CONFIG=/abs/path/qtx.yaml pm2 start ecosystem.config.js
//   pm2 save && pm2 startup launchd     # come back after a reboot (prints one sudo command)
//   pm2 status / pm2 logs qtx-telegram
//
// Do not run this and the launchd listener job at the same time: one poller per bot token
// (a second one gets 409 Conflict). Secrets come from the 0600 file in QTX_ENV_FILE, never here.
const path = require("path");
const os = require("os");

const config = path.resolve(process.env.QTX_CONFIG || path.join(__dirname, "qtx.yaml"));
const qtx = path.resolve(process.env.QTX_BIN || path.join(__dirname, ".venv", "bin", "qtx"));
const logs = path.join(path.dirname(config), "logs");

module.exports = {
  apps: [
    {
      name: "qtx-telegram",
      script: qtx,
      args: ["--config", config, "telegram"],
      interpreter: "none", // qtx is an executable script, not a node program
      cwd: path.dirname(config),
      autorestart: true,
      // Like launchd's ThrottleInterval: a crash loop restarts at most every 30 s...
      restart_delay: 30000,
      // ...and never gives up (a run counts as stable after a minute).
      min_uptime: "60s",
      max_restarts: 100000,
      kill_timeout: 30000, // SIGTERM, then SIGKILL after 30 s (same as ExitTimeOut)
      out_file: path.join(logs, "telegram.out.log"),
      error_file: path.join(logs, "telegram.err.log"),
      time: true,
      env: {
        QTX_CONFIG: config,
        QTX_ENV_FILE:
          process.env.QTX_ENV_FILE || path.join(os.homedir(), ".config", "qtx", "qtx.env"),
        PYTHONUNBUFFERED: "1",
      },
    },
  ],
};
