using System.Runtime.InteropServices;
using Kernels.Numerics;

namespace Kernels.Native;

/// <summary>kn_schedule_level: the managed <see cref="NoiseSchedule"/>s by name, so bindings use the same (α, σ) at t as the API.</summary>
public static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "kn_schedule_level")]
    internal static int ScheduleLevel(byte* name, double t, double* alpha, double* sigma)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (name == null) throw NullArgument("name", "pass a schedule name: ou, vp, ve or edm");
            if (alpha == null) throw NullArgument("alpha", "pass the address of a double to receive alpha(t)");
            if (sigma == null) throw NullArgument("sigma", "pass the address of a double to receive sigma(t)");
            if (!double.IsFinite(t))
                throw new NativeException(Status.NotFinite, $"t = {t}; the time must be finite and > 0.");
            string schedule = Marshal.PtrToStringUTF8((nint)name) ?? "";
            var level = NoiseSchedule.Parse(schedule).At(t);
            *alpha = level.Alpha;
            *sigma = level.Sigma;
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }
}
