// vk-stats: compiles SPIR-V compute shaders with the Vulkan driver and prints what the driver
// reports about them through VK_KHR_pipeline_executable_properties (registers, spills, shared
// memory, ... whatever names the driver uses). Inputs are SPIR-V binaries or SPIR-V assembly
// text (as Dawn's dump_shaders toggle prints it), assembled here with SPIRV-Tools linked in.
//
// usage: vk-stats FILE...            (one line per statistic: FILE<TAB>exe<TAB>name<TAB>value<TAB>description)
// env:   VK_LIB=path            libvulkan to dlopen when libvulkan.so.1 is not found
//        VK_DEVICE_MATCH=text   pick the first physical device whose name contains text
//        VK_STATS_IR=1          also write each internal representation beside the input
//        VK_STATS_NO_ROBUST=1   leave robustBufferAccess/robustness2 off (Dawn turns them on)
//        VK_STATS_EXTS=minimal  enable only the extensions a Dawn shader may need (default: all)
//        VK_STATS_VALIDATE=1    run spirv-val (vulkan1.3 rules) on each module first
//        VK_STATS_SUBGROUP_SIZE=n  require this subgroup size (Dawn normally does not)
//        VK_STATS_SAVE_SPV=1    write the assembled binary as FILE.spv
// Build: see build.sh (gcc + the static SPIRV-Tools library; needs only glibc and libvulkan at run).
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>
#include <spirv-tools/libspirv.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static PFN_vkGetInstanceProcAddr gipa;
static VkInstance inst;
static VkDevice dev;
#define IFN(name) PFN_##name name = (PFN_##name)gipa(inst, #name)
#define DFN(name) PFN_##name name = (PFN_##name)gdpa(dev, #name)
static PFN_vkGetDeviceProcAddr gdpa;

// The static libstdc++ calls arc4random (glibc 2.36); this one keeps the binary at glibc 2.34.
#include <sys/random.h>
uint32_t arc4random(void) { uint32_t v = 0; if (getrandom(&v, sizeof v, 0) != sizeof v) v = (uint32_t)time(NULL); return v; }

static int env_on(const char *n) { const char *v = getenv(n); return v && *v && strcmp(v, "0"); }

// ---- feature chain: every struct whose extension (or core version) the device has ----
typedef struct { const char *ext; uint32_t api; VkStructureType sType; size_t size; } FeatDef;
static const FeatDef FEATS[] = {
  { NULL, VK_API_VERSION_1_1, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, sizeof(VkPhysicalDeviceVulkan11Features) },
  { NULL, VK_API_VERSION_1_2, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, sizeof(VkPhysicalDeviceVulkan12Features) },
  { NULL, VK_API_VERSION_1_3, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES, sizeof(VkPhysicalDeviceVulkan13Features) },
  { NULL, VK_API_VERSION_1_4, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_4_FEATURES, sizeof(VkPhysicalDeviceVulkan14Features) },
  { "VK_KHR_pipeline_executable_properties", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR, sizeof(VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR) },
  { "VK_KHR_cooperative_matrix", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR, sizeof(VkPhysicalDeviceCooperativeMatrixFeaturesKHR) },
  { "VK_EXT_robustness2|VK_KHR_robustness2", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_KHR, sizeof(VkPhysicalDeviceRobustness2FeaturesKHR) },
  { "VK_KHR_shader_maximal_reconvergence", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_MAXIMAL_RECONVERGENCE_FEATURES_KHR, sizeof(VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR) },
  { "VK_KHR_shader_subgroup_uniform_control_flow", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SUBGROUP_UNIFORM_CONTROL_FLOW_FEATURES_KHR, sizeof(VkPhysicalDeviceShaderSubgroupUniformControlFlowFeaturesKHR) },
  { "VK_EXT_shader_atomic_float", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT, sizeof(VkPhysicalDeviceShaderAtomicFloatFeaturesEXT) },
  { "VK_KHR_shader_bfloat16", 0, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR, sizeof(VkPhysicalDeviceShaderBfloat16FeaturesKHR) },
};
#define NFEATS (sizeof FEATS / sizeof FEATS[0])

// Extensions never enabled: they need instance extensions we do not enable, or conflict.
static const char *DENY[] = { "VK_KHR_swapchain", "VK_KHR_display_swapchain", "VK_EXT_full_screen_exclusive",
  "VK_EXT_buffer_device_address", "VK_AMD_negative_viewport_height", "VK_KHR_present_id", "VK_KHR_present_wait",
  "VK_KHR_present_id2", "VK_KHR_present_wait2", "VK_EXT_swapchain_maintenance1", "VK_KHR_swapchain_maintenance1",
  "VK_KHR_incremental_present", "VK_GOOGLE_display_timing", "VK_EXT_hdr_metadata", "VK_NV_present_barrier",
  "VK_EXT_present_timing", "VK_NV_low_latency2", NULL };
static const char *MINIMAL[] = { "VK_KHR_pipeline_executable_properties", "VK_KHR_cooperative_matrix",
  "VK_KHR_shader_float16_int8", "VK_KHR_16bit_storage", "VK_KHR_vulkan_memory_model", "VK_EXT_subgroup_size_control",
  "VK_KHR_shader_subgroup_extended_types", "VK_KHR_maintenance4", "VK_KHR_shader_integer_dot_product",
  "VK_EXT_robustness2", "VK_KHR_robustness2", "VK_KHR_shader_maximal_reconvergence",
  "VK_KHR_shader_subgroup_uniform_control_flow", "VK_EXT_shader_atomic_float", "VK_KHR_shader_bfloat16",
  "VK_KHR_zero_initialize_workgroup_memory", "VK_KHR_spirv_1_4", "VK_KHR_shader_float_controls", NULL };
static int in_list(const char *s, const char **l) { for (; *l; l++) if (!strcmp(s, *l)) return 1; return 0; }

// ---- SPIR-V: read a file, assembling text when it is not a binary ----
static uint32_t *load_spirv(const char *path, size_t *nwords) {
  FILE *f = fopen(path, "rb");
  if (!f) { printf("%s\tERROR\tcannot open\n", path); return NULL; }
  fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
  char *buf = malloc(n + 1); if (fread(buf, 1, n, f) != (size_t)n) n = 0; buf[n] = 0; fclose(f);
  if (n >= 20 && *(uint32_t *)buf == 0x07230203u) { *nwords = n / 4; return (uint32_t *)buf; }
  spv_target_env env = SPV_ENV_UNIVERSAL_1_6;   // the header comment of a disassembly names the version
  const char *v = strstr(buf, "; Version: 1.");
  if (v) { static const spv_target_env E[] = { SPV_ENV_UNIVERSAL_1_0, SPV_ENV_UNIVERSAL_1_1, SPV_ENV_UNIVERSAL_1_2,
      SPV_ENV_UNIVERSAL_1_3, SPV_ENV_UNIVERSAL_1_4, SPV_ENV_UNIVERSAL_1_5, SPV_ENV_UNIVERSAL_1_6 };
    int m = v[13] - '0'; if (m >= 0 && m <= 6) env = E[m]; }
  spv_context ctx = spvContextCreate(env);
  spv_binary bin = NULL; spv_diagnostic diag = NULL;
  spv_result_t r = spvTextToBinaryWithOptions(ctx, buf, n, SPV_TEXT_TO_BINARY_OPTION_PRESERVE_NUMERIC_IDS, &bin, &diag);
  free(buf);
  if (r != SPV_SUCCESS) {
    printf("%s\tERROR\tassembly failed (%d) line %zu: %s\n", path, r, diag ? diag->position.line + 1 : 0, diag ? diag->error : "?");
    spvDiagnosticDestroy(diag); spvContextDestroy(ctx); return NULL;
  }
  uint32_t *w = malloc(bin->wordCount * 4); memcpy(w, bin->code, bin->wordCount * 4); *nwords = bin->wordCount;
  spvBinaryDestroy(bin); spvContextDestroy(ctx);
  if (env_on("VK_STATS_SAVE_SPV")) {
    char p[4096]; snprintf(p, sizeof p, "%s.spv", path);
    FILE *o = fopen(p, "wb"); if (o) { fwrite(w, 4, *nwords, o); fclose(o); }
  }
  return w;
}

static void validate(const char *path, const uint32_t *w, size_t n) {
  spv_context ctx = spvContextCreate(SPV_ENV_VULKAN_1_3);
  spv_const_binary_t b = { w, n }; spv_diagnostic diag = NULL;
  spv_validator_options o = spvValidatorOptionsCreate();
  if (spvValidateWithOptions(ctx, o, &b, &diag) != SPV_SUCCESS) printf("%s\tVALIDATION\t%s\n", path, diag ? diag->error : "?");
  spvDiagnosticDestroy(diag); spvValidatorOptionsDestroy(o); spvContextDestroy(ctx);
}

// ---- minimal reflection: entry point, descriptor bindings, push constants, cooperative matrix use ----
typedef struct { uint32_t id, sclass, type; } Var;
typedef struct { char entry[256]; int nb; VkDescriptorSetLayoutBinding b[4][32]; int push, coop; } Refl;
static void reflect(const uint32_t *w, size_t n, Refl *R) {
  uint32_t MAXID = w[3] + 1;   // the module's id bound
  int *set = malloc(MAXID * sizeof(int) * 7), *bind = set + MAXID, *ptr_to = bind + MAXID, *kind = ptr_to + MAXID,
      *arrlen = kind + MAXID, *constv = arrlen + MAXID, *elem = constv + MAXID;
  for (uint32_t i = 0; i < MAXID; i++) set[i] = bind[i] = -1, ptr_to[i] = kind[i] = constv[i] = elem[i] = 0, arrlen[i] = 1;
  memset(R, 0, sizeof *R); strcpy(R->entry, "main");
  Var vars[256]; int nv = 0;
  for (size_t i = 5; i < n;) {
    uint32_t op = w[i] & 0xffff, len = w[i] >> 16; if (!len || i + len > n) break;
    const uint32_t *a = w + i + 1;
    switch (op) {
      case 17: if (a[0] == 6022) R->coop = 1; break;                                   // OpCapability CooperativeMatrixKHR
      case 15: snprintf(R->entry, sizeof R->entry, "%s", (const char *)(a + 2)); break; // OpEntryPoint
      case 71: if (a[0] < MAXID) { if (a[1] == 34) set[a[0]] = a[2]; if (a[1] == 33) bind[a[0]] = a[2]; } break; // OpDecorate
      case 43: if (a[1] < MAXID) constv[a[1]] = a[2]; break;                            // OpConstant
      case 32: if (a[0] < MAXID) ptr_to[a[0]] = a[2]; break;                            // OpTypePointer
      case 25: if (a[0] < MAXID) kind[a[0]] = a[6] == 2 ? 2 : (a[1] == 5 ? 5 : 1); break; // OpTypeImage: 1 sampled, 2 storage, 5 texel
      case 26: if (a[0] < MAXID) kind[a[0]] = 3; break;                                 // OpTypeSampler
      case 27: if (a[0] < MAXID) kind[a[0]] = 4; break;                                 // OpTypeSampledImage
      case 28: if (a[0] < MAXID) { elem[a[0]] = a[1]; arrlen[a[0]] = a[2] < MAXID ? constv[a[2]] : 1; } break; // OpTypeArray
      case 29: if (a[0] < MAXID) { elem[a[0]] = a[1]; arrlen[a[0]] = 1; } break;        // OpTypeRuntimeArray
      case 59: if (nv < 256 && a[2] != 7) vars[nv++] = (Var){ a[1], a[2], a[0] }; break; // OpVariable, not Function
    }
    i += len;
  }
  for (int k = 0; k < nv; k++) {
    Var v = vars[k]; uint32_t id = v.id;
    if (v.sclass == 9) { R->push = 1; continue; }                                      // PushConstant
    if (id >= MAXID || set[id] < 0 || bind[id] < 0 || set[id] > 3 || bind[id] > 31) continue;
    uint32_t t = v.type < MAXID ? ptr_to[v.type] : 0, count = 1, depth = 0;
    while (t && t < MAXID && elem[t] && depth++ < 8) { count *= arrlen[t] ? arrlen[t] : 1; t = elem[t]; }
    VkDescriptorType dt;
    if (v.sclass == 12) dt = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    else if (v.sclass == 2) dt = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER;
    else if (v.sclass == 0) {
      int kd = t < MAXID ? kind[t] : 0;
      dt = kd == 2 ? VK_DESCRIPTOR_TYPE_STORAGE_IMAGE : kd == 3 ? VK_DESCRIPTOR_TYPE_SAMPLER :
           kd == 4 ? VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER : kd == 5 ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER :
           VK_DESCRIPTOR_TYPE_SAMPLED_IMAGE;
    } else continue;
    VkDescriptorSetLayoutBinding *b = &R->b[set[id]][bind[id]];
    b->binding = bind[id]; b->descriptorType = dt; b->descriptorCount = count; b->stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    if (set[id] + 1 > R->nb) R->nb = set[id] + 1;
  }
  free(set);
}

static void print_stat(const char *path, uint32_t e, const VkPipelineExecutableStatisticKHR *s) {
  printf("%s\t%u\t%s\t", path, e, s->name);
  switch (s->format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: printf("%s", s->value.b32 ? "true" : "false"); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: printf("%lld", (long long)s->value.i64); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: printf("%llu", (unsigned long long)s->value.u64); break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: printf("%g", s->value.f64); break;
    default: printf("?");
  }
  printf("\t%s\n", s->description);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) { fprintf(stderr, "usage: %s FILE.spv|FILE.spvasm ...\n", argv[0]); return 2; }
  void *lib = dlopen("libvulkan.so.1", RTLD_NOW);
  if (!lib && getenv("VK_LIB")) lib = dlopen(getenv("VK_LIB"), RTLD_NOW);
  if (!lib) lib = dlopen("libvulkan.so", RTLD_NOW);
  if (!lib) { printf("ERROR\tcannot load libvulkan.so.1 (set VK_LIB): %s\n", dlerror()); return 1; }
  gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
  IFN(vkEnumerateInstanceVersion); IFN(vkCreateInstance);
  uint32_t loaderApi = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loaderApi);
  uint32_t api = loaderApi < VK_API_VERSION_1_4 ? loaderApi : VK_API_VERSION_1_4;
  if (api < VK_API_VERSION_1_3) { printf("ERROR\tVulkan loader is only %u.%u\n", VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api)); return 1; }
  VkApplicationInfo app = { VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "vk-stats", 1, "vk-stats", 1, api };
  VkInstanceCreateInfo ici = { VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &app };
  VkResult r = vkCreateInstance(&ici, NULL, &inst);
  if (r) { printf("ERROR\tvkCreateInstance: %d\n", r); return 1; }
  IFN(vkEnumeratePhysicalDevices); IFN(vkGetPhysicalDeviceProperties); IFN(vkGetPhysicalDeviceFeatures2);
  IFN(vkEnumerateDeviceExtensionProperties); IFN(vkCreateDevice); IFN(vkGetPhysicalDeviceProperties2);
  gdpa = (PFN_vkGetDeviceProcAddr)gipa(inst, "vkGetDeviceProcAddr");
  uint32_t npd = 16; VkPhysicalDevice pds[16];
  vkEnumeratePhysicalDevices(inst, &npd, pds);
  if (!npd) { printf("ERROR\tno Vulkan physical device\n"); return 1; }
  const char *match = getenv("VK_DEVICE_MATCH"); VkPhysicalDevice pd = NULL; VkPhysicalDeviceProperties props;
  for (uint32_t i = 0; i < npd && !pd; i++) {
    vkGetPhysicalDeviceProperties(pds[i], &props);
    if (!match || strstr(props.deviceName, match)) pd = pds[i];
  }
  if (!pd) { printf("ERROR\tno device name contains '%s'\n", match); return 1; }
  VkPhysicalDeviceSubgroupProperties sgp = { VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
  VkPhysicalDeviceProperties2 p2 = { VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &sgp };
  vkGetPhysicalDeviceProperties2(pd, &p2);
  printf("# device\t%s\tdriver 0x%x\tapi %u.%u.%u\tsubgroup %u\tmaxComputeSharedMemorySize %u\tmaxPushConstantsSize %u\n",
         props.deviceName, props.driverVersion, VK_API_VERSION_MAJOR(props.apiVersion), VK_API_VERSION_MINOR(props.apiVersion),
         VK_API_VERSION_PATCH(props.apiVersion), sgp.subgroupSize, props.limits.maxComputeSharedMemorySize, props.limits.maxPushConstantsSize);
  if (props.apiVersion < api) api = props.apiVersion;

  uint32_t next = 0; vkEnumerateDeviceExtensionProperties(pd, NULL, &next, NULL);
  VkExtensionProperties *exts = calloc(next + 1, sizeof *exts);
  vkEnumerateDeviceExtensionProperties(pd, NULL, &next, exts);
  int has_pep = 0, has_sgsc = 0;
  for (uint32_t i = 0; i < next; i++) {
    if (!strcmp(exts[i].extensionName, "VK_KHR_pipeline_executable_properties")) has_pep = 1;
    if (!strcmp(exts[i].extensionName, "VK_EXT_subgroup_size_control")) has_sgsc = 1;
  }
  if (api >= VK_API_VERSION_1_3) has_sgsc = 1;
  // Feature chain over every struct the device supports; queried, then passed as is to vkCreateDevice.
  void *chain = NULL; void *structs[NFEATS] = { 0 };
  for (size_t k = 0; k < NFEATS; k++) {
    int ok = FEATS[k].ext == NULL ? api >= FEATS[k].api : 0;
    for (uint32_t i = 0; FEATS[k].ext && i < next && !ok; i++) {
      const char *e = exts[i].extensionName, *p = strstr(FEATS[k].ext, e); size_t L = strlen(e);
      ok = p && (p[L] == 0 || p[L] == '|') && (p == FEATS[k].ext || p[-1] == '|');
    }
    if (!ok) continue;
    VkBaseOutStructure *s = calloc(1, FEATS[k].size); s->sType = FEATS[k].sType; s->pNext = chain; chain = s; structs[k] = s;
  }
  VkPhysicalDeviceFeatures2 f2 = { VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, chain };
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR *pepf = structs[4];
  has_pep = has_pep && pepf && pepf->pipelineExecutableInfo;
  if (env_on("VK_STATS_NO_ROBUST")) {
    f2.features.robustBufferAccess = VK_FALSE;
    VkPhysicalDeviceRobustness2FeaturesKHR *rb = structs[6];
    if (rb) rb->robustBufferAccess2 = rb->robustImageAccess2 = rb->nullDescriptor = VK_FALSE;
    VkPhysicalDeviceVulkan13Features *v13 = structs[2];
    if (v13) v13->robustImageAccess = VK_FALSE;
  }
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR *cm = structs[5];
  printf("# features\tpipelineExecutableInfo %d\tcooperativeMatrix %d\trobustBufferAccess %d\n", has_pep,
         cm ? cm->cooperativeMatrix : 0, f2.features.robustBufferAccess);
  if (!has_pep) printf("# NOTE\tthe driver does not offer VK_KHR_pipeline_executable_properties: no statistics, only whether each pipeline compiles\n");

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = { VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, NULL, 0, 0, 1, &prio };
  const char **names = calloc(next + 1, sizeof *names);
  int minimal = getenv("VK_STATS_EXTS") && !strcmp(getenv("VK_STATS_EXTS"), "minimal");
  for (int attempt = 0; attempt < 2; attempt++, minimal = 1) {
    uint32_t ne = 0;
    for (uint32_t i = 0; i < next; i++) {
      const char *e = exts[i].extensionName;
      if (minimal ? in_list(e, MINIMAL) : !in_list(e, DENY)) names[ne++] = e;
    }
    VkDeviceCreateInfo dci = { VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &f2, 0, 1, &qci, 0, NULL, ne, names, NULL };
    r = vkCreateDevice(pd, &dci, NULL, &dev);
    printf("# vkCreateDevice with %u of %u extensions (%s): %d\n", ne, next, minimal ? "minimal set" : "all but a deny list", r);
    if (!r || minimal) break;
  }
  if (r) { printf("ERROR\tvkCreateDevice failed: %d\n", r); return 1; }

  DFN(vkCreateShaderModule); DFN(vkCreateDescriptorSetLayout); DFN(vkCreatePipelineLayout);
  DFN(vkCreateComputePipelines); DFN(vkDestroyPipeline); DFN(vkDestroyShaderModule);
  DFN(vkDestroyPipelineLayout); DFN(vkDestroyDescriptorSetLayout);
  DFN(vkGetPipelineExecutablePropertiesKHR); DFN(vkGetPipelineExecutableStatisticsKHR);
  DFN(vkGetPipelineExecutableInternalRepresentationsKHR);
  if (!vkGetPipelineExecutablePropertiesKHR) has_pep = 0;

  for (int fi = 1; fi < argc; fi++) {
    const char *path = argv[fi]; size_t nw = 0;
    uint32_t *code = load_spirv(path, &nw);
    if (!code) continue;
    if (env_on("VK_STATS_VALIDATE")) validate(path, code, nw);
    Refl R; reflect(code, nw, &R);
    VkShaderModuleCreateInfo smci = { VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, NULL, 0, nw * 4, code };
    VkShaderModule sm; r = vkCreateShaderModule(dev, &smci, NULL, &sm);
    free(code);
    if (r) { printf("%s\tERROR\tvkCreateShaderModule: %d\n", path, r); continue; }
    VkDescriptorSetLayout sl[4] = { 0 };
    for (int s = 0; s < R.nb; s++) {
      VkDescriptorSetLayoutBinding bs[32]; uint32_t nbs = 0;
      for (int b = 0; b < 32; b++) if (R.b[s][b].stageFlags) bs[nbs++] = R.b[s][b];
      VkDescriptorSetLayoutCreateInfo dl = { VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, NULL, 0, nbs, bs };
      vkCreateDescriptorSetLayout(dev, &dl, NULL, &sl[s]);
    }
    VkPushConstantRange pcr = { VK_SHADER_STAGE_COMPUTE_BIT, 0, props.limits.maxPushConstantsSize };
    VkPipelineLayoutCreateInfo plci = { VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, NULL, 0, R.nb, sl, R.push ? 1 : 0, &pcr };
    VkPipelineLayout pl; vkCreatePipelineLayout(dev, &plci, NULL, &pl);
    // Stage flags as Dawn sets them (ComputePipelineVk.cpp): full subgroups with subgroup matrices,
    // else varying subgroup size where subgroup size control exists.
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo rss = { VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO };
    VkPipelineShaderStageCreateInfo st = { VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, NULL, 0, VK_SHADER_STAGE_COMPUTE_BIT, sm, R.entry };
    if (getenv("VK_STATS_SUBGROUP_SIZE")) { rss.requiredSubgroupSize = atoi(getenv("VK_STATS_SUBGROUP_SIZE")); st.pNext = &rss; }
    if (R.coop || st.pNext) st.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
    else if (has_sgsc) st.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_ALLOW_VARYING_SUBGROUP_SIZE_BIT;
    VkComputePipelineCreateInfo cpci = { VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, NULL, 0, st, pl, VK_NULL_HANDLE, -1 };
    if (has_pep) cpci.flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR | VK_PIPELINE_CREATE_CAPTURE_INTERNAL_REPRESENTATIONS_BIT_KHR;
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    VkPipeline pipe; r = vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, NULL, &pipe);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (r) printf("%s\tERROR\tvkCreateComputePipelines: %d\n", path, r);
    else {
      printf("%s\t-\tpipeline\tok\tentry %s, %d set(s)%s%s, compiled in %.1f ms\n", path, R.entry, R.nb,
             R.push ? ", push constants" : "", R.coop ? ", cooperative matrices" : "", ms);
      uint32_t ne = 0; VkPipelineInfoKHR pi = { VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, NULL, pipe };
      if (has_pep && !(r = vkGetPipelineExecutablePropertiesKHR(dev, &pi, &ne, NULL))) {
        VkPipelineExecutablePropertiesKHR *ep = calloc(ne, sizeof *ep);
        for (uint32_t e = 0; e < ne; e++) ep[e].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR;
        vkGetPipelineExecutablePropertiesKHR(dev, &pi, &ne, ep);
        for (uint32_t e = 0; e < ne; e++) {
          printf("%s\t%u\texecutable\t%s\t%s (subgroup size %u)\n", path, e, ep[e].name, ep[e].description, ep[e].subgroupSize);
          VkPipelineExecutableInfoKHR xi = { VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, NULL, pipe, e };
          uint32_t ns = 0; vkGetPipelineExecutableStatisticsKHR(dev, &xi, &ns, NULL);
          VkPipelineExecutableStatisticKHR *ss = calloc(ns + 1, sizeof *ss);
          for (uint32_t k = 0; k < ns; k++) ss[k].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
          r = vkGetPipelineExecutableStatisticsKHR(dev, &xi, &ns, ss);
          if (r) printf("%s\t%u\tERROR\tvkGetPipelineExecutableStatisticsKHR: %d\n", path, e, r);
          else for (uint32_t k = 0; k < ns; k++) print_stat(path, e, &ss[k]);
          free(ss);
          uint32_t nir = 0;
          if (!vkGetPipelineExecutableInternalRepresentationsKHR ||
              vkGetPipelineExecutableInternalRepresentationsKHR(dev, &xi, &nir, NULL)) nir = 0;
          VkPipelineExecutableInternalRepresentationKHR *ir = calloc(nir + 1, sizeof *ir);
          for (uint32_t k = 0; k < nir; k++) ir[k].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INTERNAL_REPRESENTATION_KHR;
          if (nir) vkGetPipelineExecutableInternalRepresentationsKHR(dev, &xi, &nir, ir);   // sizes first
          for (uint32_t k = 0; k < nir; k++) {
            printf("%s\t%u\tIR %s\t%zu bytes\t%s%s\n", path, e, ir[k].name, ir[k].dataSize, ir[k].description, ir[k].isText ? "" : " (binary)");
            if (env_on("VK_STATS_IR")) ir[k].pData = malloc(ir[k].dataSize + 1);
          }
          if (nir && env_on("VK_STATS_IR")) {
            vkGetPipelineExecutableInternalRepresentationsKHR(dev, &xi, &nir, ir);
            for (uint32_t k = 0; k < nir; k++) {
              char p[4096], nm[256]; snprintf(nm, sizeof nm, "%s", ir[k].name);
              for (char *c = nm; *c; c++) if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) *c = '_';
              snprintf(p, sizeof p, "%s.%u.%s.%s", path, e, nm, ir[k].isText ? "txt" : "bin");
              FILE *o = fopen(p, "wb"); if (o) { fwrite(ir[k].pData, 1, ir[k].dataSize - (ir[k].isText && ir[k].dataSize ? 1 : 0), o); fclose(o); }
              free(ir[k].pData);
            }
          }
          free(ir);
        }
        free(ep);
      } else if (has_pep) printf("%s\tERROR\tvkGetPipelineExecutablePropertiesKHR: %d\n", path, r);
      vkDestroyPipeline(dev, pipe, NULL);
    }
    vkDestroyPipelineLayout(dev, pl, NULL);
    for (int s = 0; s < R.nb; s++) vkDestroyDescriptorSetLayout(dev, sl[s], NULL);
    vkDestroyShaderModule(dev, sm, NULL);
  }
  return 0;
}
