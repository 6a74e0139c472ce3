using FsCheck;
using FsCheck.Fluent;

namespace MambaRef.Tests.Infrastructure;

/// <summary>
/// Runs an FsCheck property as an xunit test (there is no FsCheck.Xunit on the package mirror).
/// The number of cases comes from <c>MAMBAREF_PROPERTY_CASES</c> (default 100 locally, 20 when <c>CI</c> is set).
/// On failure the exception message carries FsCheck's replay seed and the shrunk counterexample;
/// set <c>MAMBAREF_PROPERTY_REPLAY="seed,gamma"</c> to replay exactly that run.
/// </summary>
public static class Property
{
    public const string CasesVariable = "MAMBAREF_PROPERTY_CASES";
    public const string ReplayVariable = "MAMBAREF_PROPERTY_REPLAY";

    /// <summary>Cases per property for this run.</summary>
    public static int DefaultCases
    {
        get
        {
            var text = Environment.GetEnvironmentVariable(CasesVariable);
            if (int.TryParse(text, out var n) && n > 0)
            {
                return n;
            }

            return string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")) ? 100 : 20;
        }
    }

    /// <summary>
    /// Checks that <paramref name="body"/> does not throw for cases drawn from <paramref name="gen"/>.
    /// <paramref name="scale"/> multiplies the case count for cheap properties (or divides it with a value below 1 for costly ones).
    /// </summary>
    public static void Check<TCase>(Gen<TCase> gen, Action<TCase> body, Func<TCase, IEnumerable<TCase>>? shrink = null, double scale = 1.0)
    {
        var arbitrary = shrink is null ? Arb.From(gen) : Arb.From(gen, shrink);
        var property = Prop.ForAll(arbitrary, body);
        var cases = Math.Max(1, (int)Math.Round(DefaultCases * scale));
        var config = Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true);
        var replay = Environment.GetEnvironmentVariable(ReplayVariable);
        if (!string.IsNullOrWhiteSpace(replay))
        {
            var parts = replay.Trim('(', ')', ' ').Split(',', StringSplitOptions.TrimEntries);
            config = config.WithReplay(ulong.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), ulong.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }

        property.Check(config);
    }

    /// <summary>Shrinks an int toward <paramref name="min"/> (halving the distance, then one step).</summary>
    public static IEnumerable<int> ShrinkToward(int value, int min)
    {
        if (value <= min)
        {
            yield break;
        }

        yield return min;
        var half = min + ((value - min) / 2);
        if (half != min && half != value)
        {
            yield return half;
        }

        if (value - 1 != min && value - 1 != half)
        {
            yield return value - 1;
        }
    }
}
