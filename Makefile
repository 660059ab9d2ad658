# cct build: one Makefile, every dependency from pkg-config.
#   make              build build/cct (release, -Werror)
#   make SANITIZE=1   build build-asan/cct with ASan + UBSan
#   make BUILD=dir    put objects and the binary in another folder (parallel work trees)
#   make run          install missing packages, build, start the service on :8000
#   make test         install what tests need, build both variants, run every suite

# The program links the small libraries; the audio/video engine (libav, ~170 shared libraries
# with its dependencies) and the image engine (libvips, ~100) are shared objects of their own in
# $(BUILD)/lib/, loaded on first use (src/domain/convert/engines.c).
CORE_PKGS := libmicrohttpd jansson libsodium libjwt sqlite3 libarchive libmagic libseccomp
AV_PKGS   := libavformat libavcodec libavfilter libswresample libswscale libavutil
IMAGE_PKGS := vips
PKGS := $(CORE_PKGS) $(AV_PKGS) $(IMAGE_PKGS)

CC      ?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD   ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2 -g
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
           -Wno-unused-parameter
CFLAGS  += -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null) -lpthread -lm
# -rdynamic: the engines' shared objects use the program's own functions (errors, logging, cfg).
LDFLAGS += $(SANFLAGS) -rdynamic

AV_SRC    := $(sort $(wildcard src/domain/convert/conv_av*.c))
IMAGE_SRC := src/domain/convert/conv_image.c
SRC     := $(filter-out $(AV_SRC) $(IMAGE_SRC),$(shell find src -name '*.c' | sort))
LIBSRC  := $(filter-out src/programs/%,$(SRC))
OBJ     := $(SRC:%.c=$(BUILD)/%.o) $(BUILD)/embed.o
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o) $(BUILD)/embed.o
ENGINES := $(BUILD)/lib/cct-av.so $(BUILD)/lib/cct-image.so
UNIT    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all run test unit clean install-deps format-check
all: $(BUILD)/cct $(ENGINES)

$(BUILD)/cct: $(OBJ)
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/lib/cct-av.so: $(AV_SRC:%.c=$(BUILD)/pic/%.o)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) -shared $(SANFLAGS) -o $@ $^ $(shell pkg-config --libs $(AV_PKGS))

$(BUILD)/lib/cct-image.so: $(IMAGE_SRC:%.c=$(BUILD)/pic/%.o)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) -shared $(SANFLAGS) -o $@ $^ $(shell pkg-config --libs $(IMAGE_PKGS))

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $< (shared)"
	@$(CC) $(CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Files baked into the binary (OpenAPI document, migrations, web page): see src/util/embed.S.
EMBEDDED := $(wildcard docs/openapi.json migrations/sqlite/*.sql web/*)
$(BUILD)/embed.o: src/util/embed.S $(EMBEDDED)
	@mkdir -p $(dir $@)
	$(CC) -c -Wa,-I. -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJ) | $(ENGINES)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(LIBOBJ) $(LDLIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT)
	@set -e; for t in $(UNIT); do echo "== $$t"; $$t; done

install-deps:
	bash scripts/install-deps.sh

run: install-deps
	$(MAKE) all
	bash scripts/run.sh

test:
	bash scripts/test.sh

format-check:
	clang-format --style=file --dry-run --Werror $(shell find src tests/unit -name '*.[ch]' | sort)

clean:
	rm -rf build build-asan

-include $(OBJ:.o=.d) $(AV_SRC:%.c=$(BUILD)/pic/%.d) $(IMAGE_SRC:%.c=$(BUILD)/pic/%.d) $(UNIT:=.d)
