"""`python -m crowdsec_mp.hub ...`: the hub commands of cscli-mp on their own.

    python -m crowdsec_mp.hub -c CONFIG collections install crowdsec-mp/linux
    python -m crowdsec_mp.hub -c CONFIG hub list

Same commands, flags and output as `cscli-mp <type>|hub ...`; used by
scripts/install.sh and scripts/run.sh so that setting up a machine needs only
the hub code (no API, no database).
"""

from crowdsec_mp.cli import main as cli_main

HUB_COMMAND_MODULES = ["crowdsec_mp.cli.items", "crowdsec_mp.cli.hub"]


def main(argv=None) -> int:
    cli_main.COMMAND_MODULES = HUB_COMMAND_MODULES
    return cli_main.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
