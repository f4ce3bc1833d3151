# The two commands a newcomer needs: `make run` (local stack) and `make test` (every check).
.PHONY: run test bench fmt fuzz chaos
run:
	infra/scripts/run.sh
test:
	infra/scripts/test.sh
bench:
	infra/scripts/bench.sh
chaos:
	infra/scripts/chaos.sh
fmt:
	cargo fmt --all
fuzz:
	infra/scripts/fuzz.sh parse_model 120
	infra/scripts/fuzz.sh request_bodies 120
	infra/scripts/fuzz.sh compiled_model 120
