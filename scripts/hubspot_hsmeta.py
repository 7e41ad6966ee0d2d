"""Writes the HubSpot project app's `webhooks/webhooks-hsmeta.json` from the settings of the deployment's tenants.

HubSpot webhooks belong to the app (one target URL for every portal that installed it), and a project app declares
its subscriptions in this file (reference hubspot-api.md §6.1, §1.1). The subscriptions are the union of what the
given settings sync from HubSpot: per object, creation and deletion, and a propertyChange per mapped property
(`leadbridge.crm.hubspot.webhooks.hsmeta`); `settings.targetUrl` is the deployment's `POST /webhooks/hubspot`.

    python scripts/hubspot_hsmeta.py --defaults                        # HubSpot's default settings only
    python scripts/hubspot_hsmeta.py --settings acme.json --settings globex.json  # from GET /settings/hubspot
    python scripts/hubspot_hsmeta.py --tenant acme --tenant globex     # current settings in the deployment's table
    options: --target-url URL (default $HUBSPOT_WEBHOOK_URL, else $PUBLIC_API_URL/webhooks/hubspot),
             --max-concurrent-requests N (default 10), --out PATH (default webhooks/webhooks-hsmeta.json; - = stdout)

Re-run it when a tenant maps another property from HubSpot, and upload the project (`hs project upload`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
for entry in (REPO / "layers" / "common", REPO):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

if TYPE_CHECKING:
    from leadbridge.models.settings import SettingsDocument


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--settings", action="append", default=[], type=Path, metavar="FILE",
                        help="a HubSpot settings document (JSON, as GET /settings/hubspot answers)")
    parser.add_argument("--tenant", action="append", default=[], metavar="TENANT",
                        help="a tenant whose current HubSpot settings are read from the deployment's table")
    parser.add_argument("--defaults", action="store_true", help="include HubSpot's default settings")
    parser.add_argument("--target-url", default=None)
    parser.add_argument("--max-concurrent-requests", type=int, default=10)
    parser.add_argument("--out", default="webhooks/webhooks-hsmeta.json")
    args = parser.parse_args(argv)

    from leadbridge.crm.hubspot.webhooks import hsmeta
    from leadbridge.models.settings import SettingsDocument

    documents: list[SettingsDocument] = [
        SettingsDocument.model_validate_json(path.read_text(encoding="utf-8")) for path in args.settings
    ]
    if args.defaults:
        from leadbridge.crm.hubspot import defaults

        documents.append(defaults.default_settings())
    if args.tenant:
        from leadbridge.runtime import settings_services
        from leadbridge.settings import get_settings

        documents += [get_settings(settings_services(), tenant, "hubspot") for tenant in args.tenant]
    if not documents:
        parser.error("give at least one of --settings, --tenant, --defaults")
    target = args.target_url or os.environ.get("HUBSPOT_WEBHOOK_URL") or _from_public_url()
    if not target:
        parser.error("no target URL: pass --target-url or set PUBLIC_API_URL")
    try:
        meta = hsmeta(documents, target_url=target, max_concurrent_requests=args.max_concurrent_requests)
    except ValueError as exc:
        print(f"hubspot_hsmeta: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(meta, indent=2) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        count = len(meta["config"]["subscriptions"]["crmObjects"])
        print(f"wrote {out}: {count} subscriptions to {target}")
    return 0


def _from_public_url() -> str | None:
    public = os.environ.get("PUBLIC_API_URL", "").rstrip("/")
    return f"{public}/webhooks/hubspot" if public else None


if __name__ == "__main__":
    sys.exit(main())
