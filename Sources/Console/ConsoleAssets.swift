/// The console's style sheet and script, compiled into the binary: no CDN, no
/// build step. The script only adds confirmations and live overview refreshes;
/// every page works without it.
enum ConsoleAssets {
    static let css = """
        :root { --ink: #1f2933; --muted: #6b7785; --line: #d9dee4; --panel: #ffffff; --page: #f4f6f8;
          --accent: #2563eb; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --retry: #d97706; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--page); }
        a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
        code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
        header.top { display: flex; align-items: center; gap: 20px; padding: 10px 24px; background: #111827; color: #e5e7eb; }
        header.top .brand { font-weight: 600; letter-spacing: .02em; }
        header.top nav a { color: #cbd5e1; margin-right: 14px; padding: 4px 0; }
        header.top nav a.current { color: #fff; border-bottom: 2px solid #60a5fa; }
        header.top .spacer { flex: 1; }
        .badge { background: #374151; color: #fde68a; border-radius: 10px; padding: 2px 10px; font-size: 12px; }
        main { max-width: 1180px; margin: 0 auto; padding: 18px 24px 40px; }
        h1 { font-size: 22px; margin: 6px 0 14px; } h2 { font-size: 15px; margin: 0 0 10px; }
        .heading { display: flex; align-items: baseline; gap: 16px; justify-content: space-between; flex-wrap: wrap; }
        .muted { color: var(--muted); font-weight: normal; }
        .cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin-bottom: 8px; }
        .card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; color: var(--ink);
          display: flex; flex-direction: column; border-top: 4px solid var(--line); }
        .card:hover { text-decoration: none; border-color: #9ca3af; }
        .card .label { text-transform: uppercase; font-size: 11.5px; letter-spacing: .06em; color: var(--muted); }
        .card .count { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
        .card .note { font-size: 12px; color: var(--muted); min-height: 1.2em; }
        .card.state-pending { border-top-color: var(--accent); } .card.state-running { border-top-color: #7c3aed; }
        .card.state-succeeded { border-top-color: var(--ok); } .card.state-failed { border-top-color: var(--bad); }
        .card.state-cancelled { border-top-color: #9ca3af; }
        .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 14px 0; overflow-x: auto; }
        .columns { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; } .columns .panel { margin: 0; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
        th { font-size: 12px; color: var(--muted); font-weight: 600; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td.text { max-width: 260px; overflow-wrap: anywhere; }
        table.details th { width: 170px; }
        table.workers td:not(:last-child) { white-space: nowrap; }
        .pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e5e7eb; }
        .pill.state-pending { background: #dbeafe; color: #1e40af; } .pill.state-running { background: #ede9fe; color: #5b21b6; }
        .pill.state-succeeded, .pill.outcome-succeeded { background: #dcfce7; color: #166534; }
        .pill.state-failed, .pill.outcome-failed { background: #fee2e2; color: #991b1b; }
        .pill.outcome-retry, .pill.outcome-lease_expired { background: #fef3c7; color: #92400e; }
        .ok { color: var(--ok); } .warn { color: var(--warn); } .error { color: var(--bad); }
        .legend { margin: 0 0 4px; color: var(--muted); }
        .legend .key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 5px 0 12px; }
        .legend .key:first-child { margin-left: 0; }
        .key.succeeded, rect.succeeded { background: #16a34a; fill: #16a34a; }
        .key.retried, rect.retried { background: #f59e0b; fill: #f59e0b; }
        .key.failed, rect.failed { background: #dc2626; fill: #dc2626; }
        svg.chart { width: 100%; height: auto; display: block; }
        svg .grid { stroke: #e5e7eb; stroke-width: 1; } svg .axis { fill: var(--muted); font-size: 9px; }
        form.filter { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; background: var(--panel);
          border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
        form.filter label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; }
        input, select { font: inherit; padding: 5px 8px; border: 1px solid #c5ccd4; border-radius: 5px; background: #fff; min-width: 150px; }
        button, .button { font: inherit; padding: 6px 14px; border-radius: 5px; border: 1px solid var(--accent); background: var(--accent);
          color: #fff; cursor: pointer; display: inline-block; }
        .button:hover { text-decoration: none; filter: brightness(1.08); }
        button.danger, .button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
        button.link { background: none; border: none; color: #cbd5e1; padding: 0; }
        form.inline, .buttons form { display: inline; } .buttons { display: flex; gap: 8px; }
        .actions { margin: 12px 0; } .actions .button { margin-left: 8px; }
        .notice { background: #ecfdf5; border: 1px solid #a7f3d0; padding: 8px 12px; border-radius: 6px; }
        .pager { margin-top: 12px; } .pager a { margin-right: 16px; }
        form.confirm { display: flex; gap: 16px; align-items: center; margin-top: 16px; }
        body.login main { max-width: 420px; margin-top: 12vh; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 24px 28px; }
        body.login form { display: flex; flex-direction: column; gap: 8px; }
        @media (max-width: 820px) { .cards { grid-template-columns: repeat(2, 1fr); } .columns { grid-template-columns: 1fr; } }
        """

    static let javascript = """
        'use strict';
        document.addEventListener('DOMContentLoaded', () => {
          // A confirmation naming what a one-job action changes.
          for (const form of document.querySelectorAll('form[data-confirm]')) {
            form.addEventListener('submit', (event) => {
              if (!window.confirm(form.dataset.confirm)) event.preventDefault();
            });
          }
          // The overview refreshes when the server says something changed (server-sent events).
          const overview = document.getElementById('overview');
          if (!overview || !window.EventSource) return;
          const status = document.getElementById('live-status');
          const initial = status ? status.textContent : '';
          const source = new EventSource('/events');
          let busy = false;
          source.addEventListener('changed', async () => {
            if (busy) return;
            busy = true;
            try {
              const response = await fetch(overview.dataset.live, { credentials: 'same-origin' });
              if (response.ok) {
                overview.innerHTML = await response.text();
                if (status) status.textContent = initial;
              } else if (status) {
                status.textContent = 'Could not refresh (HTTP ' + response.status + ').';
              }
            } catch (error) {
              if (status) status.textContent = 'Could not refresh; retrying.';
            } finally {
              busy = false;
            }
          });
          source.addEventListener('error', () => {
            if (status) status.textContent = 'Live updates interrupted; reconnecting.';
          });
          source.addEventListener('open', () => {
            if (status) status.textContent = initial;
          });
        });
        """
}
