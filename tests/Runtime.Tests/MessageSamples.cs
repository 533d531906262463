using System.Collections;
using System.Reflection;
using MessagePack;
using Offload.Protocol.Messages;

namespace Offload.Runtime.Tests;

/// <summary>Builds every wire message with non-default values by reflection, and compares messages field by field.</summary>
public static class MessageSamples
{
    /// <summary>Every concrete IOffloadMessage type of the Protocol assembly, found independently of the serializer's table.</summary>
    public static IReadOnlyList<Type> AllMessageTypes() =>
        typeof(IOffloadMessage).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && !t.IsInterface && typeof(IOffloadMessage).IsAssignableFrom(t))
            .OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    public static object Create(Type type, int seed = 1)
    {
        if (type == typeof(string)) return $"s{seed}-{type.Name}";
        if (type == typeof(int)) return 1000 + seed;
        if (type == typeof(long)) return (1L << 40) + seed;
        if (type == typeof(double)) return seed + 0.625;
        if (type == typeof(float)) return seed + 0.5f;
        if (type == typeof(bool)) return true;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
        {
            var element = type.GetGenericArguments()[0];
            var array = Array.CreateInstance(element, 2);
            array.SetValue(Create(element, seed * 10 + 1), 0);
            array.SetValue(Create(element, seed * 10 + 2), 1);
            return array;
        }
        if (type.GetCustomAttribute<MessagePackObjectAttribute>() is not null)
        {
            var ctor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
            var ps = ctor.GetParameters();
            var args = new object?[ps.Length];
            for (var i = 0; i < ps.Length; i++)
                args[i] = ps[i].ParameterType == typeof(string) ? $"{type.Name}.{ps[i].Name}#{seed}" : Create(ps[i].ParameterType, seed + i);
            return ctor.Invoke(args);
        }
        throw new NotSupportedException($"MessageSamples: no sample for {type}; add one.");
    }

    /// <summary>Names of the public properties of a message whose value is the type's default (or an empty list).</summary>
    public static IEnumerable<string> DefaultProperties(object message)
    {
        foreach (var p in message.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var v = p.GetValue(message);
            var isDefault = v is null
                || (p.PropertyType.IsValueType && v.Equals(Activator.CreateInstance(p.PropertyType)))
                || (v is string s && s.Length == 0)
                || (v is IEnumerable e and not string && !e.Cast<object>().Any());
            if (isDefault) yield return p.Name;
        }
    }

    /// <summary>Field-by-field equality (lists element by element); null when equal, else the first difference.</summary>
    public static string? Difference(object? a, object? b, string path = "")
    {
        if (a is null || b is null) return a is null && b is null ? null : $"{path}: {a ?? "null"} vs {b ?? "null"}";
        if (a is string || a.GetType().IsPrimitive) return a.Equals(b) ? null : $"{path}: {a} vs {b}";
        if (a is IEnumerable ea && b is IEnumerable eb)
        {
            var la = ea.Cast<object>().ToList();
            var lb = eb.Cast<object>().ToList();
            if (la.Count != lb.Count) return $"{path}: {la.Count} vs {lb.Count} elements";
            for (var i = 0; i < la.Count; i++)
                if (Difference(la[i], lb[i], $"{path}[{i}]") is { } d) return d;
            return null;
        }
        if (a.GetType() != b.GetType()) return $"{path}: {a.GetType().Name} vs {b.GetType().Name}";
        foreach (var p in a.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            if (Difference(p.GetValue(a), p.GetValue(b), $"{path}.{p.Name}") is { } d) return d;
        return null;
    }
}
