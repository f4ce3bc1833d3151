# The two commands a newcomer needs: `make run` (local stack) and `make test` (every check).
.PHONY: run test bench fmt fuzz
run:
	infra/scripts/run.sh
test:
	infra/scripts/test.sh
bench:
	infra/scripts/bench.sh
fmt:
	cargo fmt --all
fuzz:
	infra/scripts/fuzz.sh parse_model 120
	infra/scripts/fuzz.sh request_bodies 120
	infra/scripts/fuzz.sh compiled_model 120
