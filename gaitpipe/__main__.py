from gaitpipe.cli.app import run

run()
