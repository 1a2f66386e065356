# Convenience targets; each calls a script that works without make too.
.PHONY: demo test test-fast lint bench clean clean-force refresh

demo:            ## install, dvc repro, push to the default local remote, status
	scripts/demo.sh

test:            ## install dev extras, lint, run the whole suite (what CI runs)
	scripts/test.sh

test-fast:       ## the suite without the slow end-to-end, S3 and crash tests
	scripts/test.sh -m "not slow"

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:           ## every benchmark, side by side with dvc and coreutils
	.venv/bin/python -m bench

clean:           ## list the old test runs retention would remove (a dry run)
	.venv/bin/artifactctl clean

clean-force:     ## remove them (`artifactctl clean --force`)
	.venv/bin/artifactctl clean --force

refresh:         ## regenerate production artifacts from scratch (`artifactctl refresh --force`)
	.venv/bin/artifactctl refresh --force
