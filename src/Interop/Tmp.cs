namespace Kernels.Interop; internal static class Placeholder {}
