from slipway.cli.main import app

app(prog_name="slipway")
